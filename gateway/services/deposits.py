"""The manual deposit: the bookseller uploaded an ``A_DEPOSER`` invoice on the Chorus Pro
portal and says so (``POST /v1/invoices/{id}/manual-deposit``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gateway import lifecycle
from gateway.config import Config
from gateway.errors import not_found
from gateway.pipeline import Pipeline
from gateway.services.actions import refused_now
from gateway.store import Store
from gateway.views import invoice_view

#: The channel whose outlet follows invoices on Chorus Pro (DESIGN.md §5 channel names).
CHORUS_CHANNEL = "chorus"
DEPOSITED = "Déposée à la main sur le portail Chorus Pro par le libraire"


class ManualDepositService:
    def __init__(
        self, store: Store, pipeline: Pipeline, config: Config, pm, clock: Callable[[], datetime]
    ):
        self.store = store
        self.pipeline = pipeline
        self.registry = pipeline.registry
        self.config = config
        self.pm = pm
        self.clock = clock

    def follower(self, member_id: str) -> str | None:
        """Return the outlet that can follow a portal upload through the Chorus Pro API for
        this member (it polls, and the member saved credentials for it), or None."""
        name = self.config.channels.get(CHORUS_CHANNEL)
        outlet = self.registry.outlets.get(name) if name else None
        if outlet is None or "poll" not in outlet.capabilities:
            return None
        return name if self.pipeline.member_settings(member_id).get(name) else None

    def confirm(self, member_id: str, invoice_id: str, body: dict) -> dict:
        """Record ``DEPOSEE``; with the platform's invoice id and a follower, hand the
        invoice to that outlet's polling (its history is then read from the platform)."""
        row = self.store.get_invoice(invoice_id, member_id)
        if row is None:
            raise not_found("Facture")
        lifecycle.require_action(row, lifecycle.MANUAL_DEPOSIT)
        now = self.clock()
        platform_id = body.get("platform_invoice_id")
        follower = self.follower(member_id) if platform_id else None
        comment = DEPOSITED
        if platform_id:
            comment += f" (facture Chorus Pro n° {platform_id})"
        if follower:
            comment += " ; son statut est suivi par l'API Chorus Pro"
        elif platform_id:
            comment += (
                " ; son statut n'est pas suivi : aucun identifiant de l'API Chorus Pro n'est "
                "enregistré pour votre librairie"
            )
        else:
            comment += (
                " ; son statut n'est pas suivi : le numéro de facture Chorus Pro n'a pas été "
                "indiqué"
            )
        if body.get("comment"):
            comment += f". Commentaire : {body['comment']}"
        updates: dict = {}
        if follower:
            # The Chorus outlet follows an invoice by its platform id through its history.
            updates = {
                "outlet": follower,
                "outlet_reference": platform_id,
                "receipt_data": {
                    "identifiantFactureCPP": int(platform_id),
                    "number": row["number"],
                },
                "history_applied": 0,
                "next_poll_at": now,
            }
        recorder = lifecycle.Recorder(self.store, self.pm)
        with self.store.begin() as conn:
            current = self.store.lock_invoice(conn, invoice_id, member_id)
            if current["status"] != lifecycle.A_DEPOSER or current["action"]:
                raise refused_now(lifecycle.MANUAL_DEPOSIT)
            recorder.change(
                conn,
                current,
                lifecycle.DEPOSEE,
                body.get("deposited_at") or now,
                comment,
                extra={
                    "action": lifecycle.MANUAL_DEPOSIT,
                    "platform_invoice_id": platform_id,
                    "followed": bool(follower),
                },
                updated_at=now,
                **updates,
            )
        recorder.notify()
        return invoice_view(self.store, self.store.get_invoice(invoice_id))
