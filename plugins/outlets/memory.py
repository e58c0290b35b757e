"""The ``memory`` outlet: deposits instantly, without any network, for tests and demos.

It takes the document a real outlet would (``document = "cii"``…), so that the whole
pipeline (rendering, EN 16931 validation, archiving) runs as it will in production.
It can be told to fail (``fail = "transient"`` or ``"permanent"``, or ``fail_times = N``
transient failures per invoice before it succeeds), to play a platform whose answer is
illegible (``fail = "odd"``) or lost after it took the invoice (``fail = "lost"``), one
down for certain (``fail = "unavailable"``: nothing taken, no attempt used up), and to
take time (``delay``). With a ``journal`` file it records each deposit as a JSON line,
shared by every process, and never deposits the same invoice twice — the contract every
real outlet must keep too. Its conformance harness is in ``plugins.outlets.testing``.

It receives too (``receive`` capability), in process only: a test hands it suppliers'
flows with :meth:`MemoryOutlet.deliver` and reads the member's answers in
:attr:`MemoryOutlet.answers`; ``receive_fail_times`` and ``answer_fail_times`` make that
many calls fail transiently first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from pathlib import Path

from gateway.plugin_api import (
    ConfigError,
    ConfigField,
    Cost,
    InboundFlow,
    Outlet,
    PermanentOutletError,
    Receipt,
    ReceiveContext,
    TransientOutletError,
    UnavailableOutletError,
    UncertainOutletError,
    hookimpl,
)

#: What ``fail`` may say.
FAILURES = ("transient", "permanent", "odd", "lost", "unavailable")


def read_journal(path: str | Path) -> list[dict]:
    """Return every deposit recorded in a journal file."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MemoryOutlet(Outlet):
    name = "memory"
    label = "Sortie de démonstration (sans réseau)"
    capabilities = frozenset({"send", "receive"})
    config_fields = {
        "journal": ConfigField(
            "JSON-lines file recording every deposit (shared by processes)", path=True
        ),
        "fail": ConfigField(
            'every send fails: "transient", "permanent", "odd" (illegible answer), "lost" '
            '(the invoice is taken, the answer lost) or "unavailable" (certainly not taken)'
        ),
        "fail_times": ConfigField(
            "transient failures per invoice before a send succeeds", default=0
        ),
        "delay": ConfigField("seconds each send takes (to simulate a slow platform)", default=0),
        "document": ConfigField("renderer of the document it takes (cii, ubl, facturx…), if any"),
        "profile": ConfigField("mapping profile of that document", default="chorus"),
        "receive_fail_times": ConfigField(
            "transient failures of the first receive calls (each process)", default=0
        ),
        "answer_fail_times": ConfigField(
            "transient failures of the first answer calls (each process)", default=0
        ),
    }
    cost = Cost(note="gratuit (démonstration)")

    def __init__(self, config: dict | None = None):
        super().__init__(config)
        if self.config["fail"] not in (None, "", *FAILURES):
            raise ConfigError(
                f"Réglage « fail » de la sortie memory inconnu : « {self.config['fail']} » "
                f"(valeurs possibles : {', '.join(FAILURES)})."
            )
        numbers = ("fail_times", "receive_fail_times", "answer_fail_times")
        for key, kind in (*((key, int) for key in numbers), ("delay", float)):
            try:
                valid = kind(self.config[key]) >= 0
            except (TypeError, ValueError):
                valid = False
            if not valid:
                raise ConfigError(
                    f"Réglage « {key} » de la sortie memory : un nombre positif est attendu, "
                    f"pas « {self.config[key]} »."
                )
        self._lock = threading.Lock()
        self._deposits: dict[str, dict] = {}
        #: Flows waiting for each member, in arrival order (``deliver``).
        self._inbound: dict[str, list[InboundFlow]] = {}
        #: Every answer taken: reference, status, reason, comment, member_id, message.
        self.answers: list[dict] = []
        self._failures = {
            "receive": int(self.config["receive_fail_times"]),
            "answer": int(self.config["answer_fail_times"]),
        }

    def deliver(self, member_id: str, flow: InboundFlow) -> None:
        """Make ``flow`` arrive for ``member_id`` (the same flow may be delivered twice)."""
        with self._lock:
            self._inbound.setdefault(member_id, []).append(flow)

    def _fail_once(self, call: str) -> None:
        with self._lock:
            failing = self._failures[call] > 0
            self._failures[call] -= failing
        if failing:
            raise TransientOutletError(f"la plateforme de démonstration ne répond pas ({call})")

    def receive(self, context: ReceiveContext) -> tuple[list[InboundFlow], dict]:
        self._fail_once("receive")
        start = int(context.state.get("next", 0))
        with self._lock:
            flows = list(self._inbound.get(context.member_id, [])[start:])
        return flows, {"next": start + len(flows)}

    def answer(self, reference, status, reason, comment, context: ReceiveContext) -> str:
        self._fail_once("answer")
        with self._lock:
            message = f"CDAR-{len(self.answers) + 1:06d}"
            self.answers.append(
                {
                    "member_id": context.member_id,
                    "reference": reference,
                    "status": status,
                    "reason": reason,
                    "comment": comment,
                    "message": message,
                }
            )
        return message

    def document_format(self, settings: dict) -> tuple[str, str] | None:
        if not self.config["document"]:
            return None
        return self.config["document"], self.config["profile"]

    def send(self, invoice, documents, context) -> Receipt:
        if self.config["delay"]:
            time.sleep(float(self.config["delay"]))
        if self.config["fail"] == "unavailable":
            raise UnavailableOutletError("la plateforme de démonstration est hors service")
        if self.config["fail"] == "permanent":
            raise PermanentOutletError("la sortie de démonstration refuse cette facture")
        if self.config["fail"] == "transient" or context.attempt <= int(self.config["fail_times"]):
            raise TransientOutletError("la sortie de démonstration est momentanément indisponible")
        if self.config["fail"] == "odd":
            raise UncertainOutletError(
                "la sortie de démonstration a reçu une réponse illisible de sa plateforme"
            )
        deposit = {
            "invoice_id": context.invoice_id,
            "member_id": context.member_id,
            "number": invoice.number,
            "reference": "MEM-"
            + hashlib.sha256(context.invoice_id.encode()).hexdigest()[:12].upper(),
            "documents": [document.name for document in documents],
        }
        deposit = self._record(deposit)
        if self.config["fail"] == "lost":
            raise UncertainOutletError(
                "la réponse de la sortie de démonstration s'est perdue (la facture a pu être prise)"
            )
        return Receipt(
            outlet=self.name, reference=deposit["reference"], data={"number": invoice.number}
        )

    def _record(self, deposit: dict) -> dict:
        """Record a deposit once; return the earlier one if this invoice was already taken."""
        with self._lock:
            journal = self.config["journal"]
            if not journal:
                return self._deposits.setdefault(deposit["invoice_id"], deposit)
            path = Path(journal)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.seek(0)
                for line in handle:
                    earlier = json.loads(line)
                    if earlier["invoice_id"] == deposit["invoice_id"]:
                        return earlier
                handle.write(json.dumps(deposit) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            return deposit


@hookimpl
def gateway_register_outlets():
    return [MemoryOutlet]
