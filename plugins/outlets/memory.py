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
    Outlet,
    PermanentOutletError,
    Receipt,
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
    capabilities = frozenset({"send"})
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
    }
    cost = Cost(note="gratuit (démonstration)")

    def __init__(self, config: dict | None = None):
        super().__init__(config)
        if self.config["fail"] not in (None, "", *FAILURES):
            raise ConfigError(
                f"Réglage « fail » de la sortie memory inconnu : « {self.config['fail']} » "
                f"(valeurs possibles : {', '.join(FAILURES)})."
            )
        for key, kind in (("fail_times", int), ("delay", float)):
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
