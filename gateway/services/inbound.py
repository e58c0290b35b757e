"""Inbound invoices: list, read, download, answer; and the platform's pull notifications."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import InvalidOperation

from gateway import inbound
from gateway.archive import BlobMissing
from gateway.auth import Principal, new_id
from gateway.codec import invoice_from_data
from gateway.config import Config
from gateway.errors import Conflict, Damaged, Forbidden, InvalidInput, not_found
from gateway.export import safe_name
from gateway.outlets import Document
from gateway.pipeline import CLAIM_SECONDS, Claim, replayed
from gateway.plugins import Registry
from gateway.services.invoices import parse_since
from gateway.services.paging import decode_cursor, encode_cursor
from gateway.store import Store
from gateway.store.inbound import InboundStore

#: Most inbound invoices one page holds.
MAX_PAGE = 200
#: The refusals of the state machine that are conflicts with the invoice's status (409),
#: not faults of the request's fields (422).
CONFLICTS = {"inbound.transition_refused"}


def not_found_inbound():
    return not_found("Facture reçue")


def _time(row: dict, key: str) -> str | None:
    return row[key].isoformat() if row.get(key) else None


def summary_view(row: dict) -> dict:
    status = row["status"]
    return {
        "id": row["id"],
        "member_id": row["member_id"],
        "outlet": row["outlet"],
        "reference": row["reference"],
        "received_at": _time(row, "received_at"),
        "sender": {
            "name": row["sender_name"],
            "siren": row["sender_siren"],
            "siret": row["sender_siret"],
            "vat_id": row["sender_vat_id"],
        },
        "number": row["number"],
        "issue_date": row["issue_date"],
        "due_date": row["due_date"],
        "type": row["type"],
        "currency": row["currency"],
        "totals": row["totals"],
        "status": status,
        "status_label": inbound.STATUSES.get(status) if status else None,
        "status_at": _time(row, "status_at"),
        "parsed": not row["problems"],
        "original": {
            "filename": row["filename"],
            "media_type": row["media_type"],
            "size": row["size"],
            "sha256": row["sha256"],
        },
    }


def answer_view(answer: dict) -> dict:
    return {
        "status": answer["status"],
        "label": inbound.STATUSES[answer["status"]],
        "reason": answer["reason"],
        "reason_label": inbound.REASONS.get(answer["reason"]) if answer["reason"] else None,
        "comment": answer["comment"],
        "amount": answer["amount"],
        "at": _time(answer, "at"),
        "sending": answer["state"],
        "attempts": answer["attempts"],
        "sent_at": _time(answer, "sent_at"),
        "message_reference": answer["message_reference"],
        "error": answer["last_error"],
    }


class InboundService:
    def __init__(
        self, store: Store, registry: Registry, config: Config, clock: Callable[[], datetime]
    ):
        self.store = store
        self.inbound = InboundStore(store)
        self.registry = registry
        self.config = config
        self.clock = clock

    @staticmethod
    def _scope(principal: Principal, member_id: str | None) -> str | None:
        """The member whose invoices are read: the caller's own, or (admin) ``member_id``,
        None for every member."""
        if principal.role == "admin":
            return member_id or None
        if member_id and member_id != principal.member_id:
            raise not_found("Membre")
        return principal.acting_member()

    def _row(self, principal: Principal, inbound_id: str) -> dict:
        member = None if principal.role == "admin" else principal.acting_member()
        row = self.inbound.get(inbound_id, member)
        if row is None:
            raise not_found_inbound()
        return row

    def list(
        self,
        principal: Principal,
        *,
        member_id: str | None = None,
        status: list[str] | None = None,
        sender: str | None = None,
        received_after: str | None = None,
        received_before: str | None = None,
        number: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> dict:
        """A page of inbound invoices, newest first, and the next page's cursor."""
        for code in status or []:
            if code != "none" and code not in inbound.STATUSES:
                raise InvalidInput.of(
                    "inbound.status_invalid",
                    f"Statut « {code} » inconnu (statuts : {', '.join(inbound.STATUSES)}, "
                    "ou none : sans réponse).",
                    field="status",
                )
        if sender and not (sender.isascii() and sender.isdigit() and len(sender) in (9, 14)):
            raise InvalidInput.of(
                "field.invalid",
                "Le paramètre « sender » est un SIREN (9 chiffres) ou un SIRET (14 chiffres).",
                field="sender",
            )
        rows = self.inbound.list(
            self._scope(principal, member_id),
            status=status,
            sender=sender,
            received_after=_since(received_after, "received_after"),
            received_before=_since(received_before, "received_before"),
            number=number,
            after_seq=decode_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
        page, more = rows[:limit], len(rows) > limit
        return {
            "items": [summary_view(row) for row in page],
            "next_cursor": encode_cursor(page[-1]["seq"]) if more else None,
        }

    def get(self, principal: Principal, inbound_id: str) -> dict:
        """The inbound invoice: summary, parsed invoice, problems, statuses sent."""
        row = self._row(principal, inbound_id)
        return {
            **summary_view(row),
            "format": row["format"],
            "invoice": row["data"],
            "problems": row["problems"],
            "platform": row["platform_data"],
            "statuses": [answer_view(a) for a in self.inbound.answers(row["seq"])],
        }

    def original(self, principal: Principal, inbound_id: str) -> tuple[dict, bytes]:
        """The original as received, byte for byte; its reading is journaled."""
        row = self._row(principal, inbound_id)
        content = self._content(row)
        self.inbound.record_read(row, _reader(principal), row["filename"])
        return row, content

    def pdf(self, principal: Principal, inbound_id: str) -> Document:
        """A readable PDF: the Factur-X itself, or the parsed invoice rendered."""
        row = self._row(principal, inbound_id)
        stem = safe_name(row["number"] or row["id"])
        if row["media_type"] == "application/pdf" or row["format"] == "facturx":
            content = self._content(row)
        else:
            renderer = self.registry.renderers.get("pdf")
            if row["data"] is None or renderer is None:
                raise Conflict.of(
                    "inbound.not_rendered",
                    "Cette facture reçue n'a pas pu être lue : aucun PDF n'en est tiré ; "
                    "téléchargez l'original (/original).",
                )
            content = renderer.render(invoice_from_data(row["data"]))
        self.inbound.record_read(row, _reader(principal), "pdf")
        return Document(f"{stem}.pdf", "application/pdf", content)

    def _content(self, row: dict) -> bytes:
        try:
            return self.inbound.content(row)
        except BlobMissing as ex:
            raise Damaged.of(
                "archive.document_missing",
                f"L'original de la facture reçue {row['id']} manque dans l'archive.",
            ) from ex

    def answer(
        self, member_id: str, inbound_id: str, body: dict, idempotency_key: str | None = None
    ) -> dict:
        """Record the member's status and queue its sending (202: pending). With an
        ``idempotency_key``, the same key and body get the first answer again (recorded
        once), another body with it is a Conflict."""
        if not idempotency_key:
            return self._answer(member_id, inbound_id, body, None)
        claim = Claim(idempotency_key, new_id("claim"))
        digest = hashlib.sha256(
            json.dumps([inbound_id, body], sort_keys=True, default=str).encode()
        ).hexdigest()
        now = self.clock()
        held = self.store.claim_idempotent(
            member_id, claim.key, digest, claim.token, now, now + timedelta(seconds=CLAIM_SECONDS)
        )
        if held is not None:
            return replayed(held, digest)
        try:
            return self._answer(member_id, inbound_id, body, claim)
        except Exception:
            self.store.release_idempotent(member_id, claim.key, claim.token)
            raise

    def _answer(self, member_id: str, inbound_id: str, body: dict, claim: Claim | None) -> dict:
        status = str(body.get("status") or "")
        reason = body.get("reason") or None
        comment = body.get("comment") or None
        try:
            amount = inbound.amount_of(body.get("amount"))
        except (ValueError, InvalidOperation) as ex:
            raise InvalidInput.of(
                "field.invalid",
                "Le montant (amount) est un nombre positif à deux décimales au plus.",
                field="amount",
            ) from ex

        def check(row: dict) -> None:
            findings = inbound.check_answer(row["status"], status, reason, amount)
            if findings:
                kind = Conflict if findings[0].code in CONFLICTS else InvalidInput
                raise kind(findings)

        def view(answer: dict) -> dict:
            shown = {**answer, "sent_at": None, "message_reference": None, "last_error": None}
            return {"inbound_invoice_id": inbound_id, **answer_view(shown)}

        def done(conn, answer: dict) -> None:
            if claim is not None:
                self.store.complete_idempotent(
                    conn, member_id, claim.key, claim.token, 202, view(answer)
                )

        answer = self.inbound.add_answer(
            inbound_id,
            member_id,
            check,
            {
                "status": status,
                "reason": reason,
                "comment": comment,
                "amount": None if amount is None else str(amount),
                "at": self.clock(),
                "attempts": 0,
            },
            done,
        )
        if answer is None:
            raise not_found_inbound()
        return view(answer)

    def notify(self, member_id: str, outlet: str, token: str | None) -> None:
        """A platform says flows are waiting: schedule a pull, if its token is the member's
        (the body is never read)."""
        member = self.store.get_member(member_id)
        receiving = self.registry.outlets.get(outlet)
        known = member is not None and receiving is not None
        known = known and "receive" in receiving.capabilities
        try:
            expected = inbound.notify_token(self.config, member_id, outlet).encode()
        except ValueError:  # no secret key: no token can be right
            expected = None
        given = (token or "").encode("utf-8", "replace")
        if not (given and expected and hmac.compare_digest(given, expected)) or not known:
            raise Forbidden.of(
                "inbound.notify_refused",
                "Jeton de notification absent ou invalide pour ce membre et cette sortie.",
            )
        self.inbound.request_pull(member_id, outlet, self.clock())


def _reader(principal: Principal) -> dict:
    return {"key_id": principal.key_id, "role": principal.role}


def _since(value: str | None, name: str) -> datetime | None:
    try:
        return parse_since(value)
    except InvalidInput as ex:
        raise InvalidInput.of(
            "field.invalid",
            f"La date « {name} » est au format ISO 8601 avec son fuseau (Z ou +01:00).",
            field=name,
        ) from ex
