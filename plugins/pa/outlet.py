"""The ``pa`` outlet: invoices deposited with the member's approved platform (« plateforme
agréée ») through the XP Z12-013 Flow Service, then followed by their XP Z12-012 lifecycle.

Send deposits the document validated at acceptance (Factur-X, CII or UBL, French 2026
profile) as one flow, with a ``trackingId`` derived from the invoice id: after an uncertain
deposit, the next attempt searches the platform by that ``trackingId`` and adopts the flow it
finds rather than depositing twice. Poll reads each flow's acknowledgement and lifecycle
statuses and maps them with the one table of :mod:`plugins.pa.lifecycle`. Receive and
answer handle the invoices suppliers send the member and its CDAR answers about them.
See docs/outlets/pa.md.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from gateway.plugin_api import (
    ConfigError,
    ConfigField,
    Cost,
    Document,
    Finding,
    FormatError,
    InboundFlow,
    Invoice,
    Outlet,
    OutletError,
    PermanentOutletError,
    PollContext,
    Receipt,
    ReceiveContext,
    SendContext,
    StatusUpdate,
    TransientOutletError,
    UnavailableOutletError,
    UncertainOutletError,
    check_outbound_url,
    get_logger,
    platform_client,
    seconds_setting,
)
from plugins.pa import cdar
from plugins.pa.api import (
    MAX_DOWNLOAD,
    OVERLAP,
    PAGE,
    FlowClient,
    FlowRefused,
    platform_time,
)
from plugins.pa.lifecycle import ACK_ERROR_STATUS, REFUSALS, comment, gateway_status
from plugins.pa.oauth import TOKENS, OAuthSession, TokenCache

log = get_logger(__name__)

NAME = "pa"
PLATFORM = "La plateforme agréée"
URL_KEYS = ("flow_url", "token_url")
CREDENTIAL_KEYS = ("client_id", "client_secret")
#: Setting ``syntax`` → (the gateway's renderer, ``FlowSyntax`` of XP Z12-013).
SYNTAXES = {"Factur-X": ("facturx", "Factur-X"), "CII": ("cii", "CII"), "UBL": ("ubl", "UBL")}
#: Setting ``profile`` → ``FlowProfile`` of XP Z12-013 (EN 16931 is its ``CIUS``).
FLOW_PROFILES = {"EN16931": "CIUS", "EXTENDED-CTC-FR": "Extended-CTC-FR"}
#: Setting ``profile`` → the gateway's mapping profile of the document.
MAPPING_PROFILES = {"EN16931": "fr-2026", "EXTENDED-CTC-FR": "fr-2026-extended"}
#: What ``SendContext.state`` keeps: when a deposit first ended without a certain answer.
UNCERTAIN_SINCE = "uncertain_deposit_since"
#: trackingIds are UUIDs named after the invoice id (NotOnlyUuid: 36 characters at most).
TRACKING_NAMESPACE = uuid.UUID("4f0c8d1e-6a53-5b8e-9d2a-3c7f1e2b9a60")
#: Inbound: the invoice flows a supplier's platform delivers to the member.
INBOUND_TYPES = ["SupplierInvoice"]
#: Inbound: flows fetched at most per ``receive`` call (the next call goes on from there).
RECEIVE_MOST = PAGE


NEVER = datetime.min.replace(tzinfo=UTC)


def tracking_id(invoice_id: str) -> str:
    """The ``trackingId`` of an invoice's flow: the same on every attempt."""
    return str(uuid.uuid5(TRACKING_NAMESPACE, invoice_id))


def merged_settings(member: dict, own: dict) -> dict:
    """The member's settings over the plugin's own. A PA account is one company's mailbox:
    its credentials are never inherited, only URLs, timeout, syntax and profile."""
    member = {key: value for key, value in member.items() if value not in (None, "")}
    inherited = {key: value for key, value in own.items() if key not in CREDENTIAL_KEYS}
    return {**inherited, **member}


def setting_error(key: str, message: str) -> PermanentOutletError:
    return PermanentOutletError(
        message,
        findings=[Finding(code="setting.invalid", field=f"settings.{NAME}.{key}", message=message)],
    )


def collapse(steps: list[tuple[str, datetime | None, str | None]]) -> list:
    """Drop a step of the same status as the one before (201 then 202 are both on their way):
    a longer history starts with a shorter one, so the core's count of applied steps holds."""
    kept: list = []
    for step in steps:
        if not kept or kept[-1][0] != step[0]:
            kept.append(step)
    return kept


def step(
    code: str, at: datetime | None, reason_code: str | None, reason: str | None
) -> tuple[str, datetime | None, str, dict]:
    """One lifecycle status as a history step: (gateway status, time, comment, data)."""
    reason_code = reason_code if code in REFUSALS else None
    return (
        gateway_status(code) or code,  # an unknown code is kept verbatim
        at,
        comment(code, reason_code, reason),
        {"cdar_status": code, "cdar_reason_code": reason_code},
    )


def invoice_key(receipt: Receipt) -> tuple[str | None, str | None]:
    """What a CDAR status must name to be about this receipt's invoice: its number and its
    seller's SIREN (a receipt of an earlier version, without the SIREN: its number)."""
    return receipt.data.get("number"), receipt.data.get("seller_siren")


def step_time(found: tuple) -> datetime:
    return found[1] or NEVER


def metadata_steps(flow: dict) -> list[tuple]:
    """The steps a flow's Metadata lists in ``lifecycle`` (status, date, reasonCode): the
    PA sandbox's extension of the ``Flow`` object, oldest first."""
    listed = flow.get("lifecycle") if isinstance(flow.get("lifecycle"), list) else []
    found = [
        step(item["status"], platform_time(item.get("date")), item.get("reasonCode"), None)
        for item in listed
        if isinstance(item, dict) and isinstance(item.get("status"), str)
    ]
    return sorted(found, key=step_time)


class PaOutlet(Outlet):
    name = NAME
    label = "Plateforme agréée (PA)"
    capabilities = frozenset({"send", "poll", "receive"})
    #: The BR-FR rules of the 2026 reform judge every invoice sent through a platform.
    rule_sets = frozenset({"fr-ctc"})
    config_fields = {
        "flow_url": ConfigField("Flow Service URL (XP Z12-013), up to /v1", url=True),
        "token_url": ConfigField("OAuth2 token URL of the platform", url=True),
        "client_id": ConfigField("OAuth2 client id the platform gave the member"),
        "client_secret": ConfigField("OAuth2 client secret", secret=True),
        "syntax": ConfigField("document sent: CII, UBL or Factur-X", default="Factur-X"),
        "profile": ConfigField("profile: EN16931 or EXTENDED-CTC-FR", default="EN16931"),
        "timeout": ConfigField("seconds a call may take (connection: 10 at most)", default=30.0),
    }
    cost = Cost(note="Tarif de la plateforme agréée choisie par le membre (hors passerelle).")

    def __init__(
        self,
        config: dict | None = None,
        *,
        http: httpx.Client | None = None,
        tokens: TokenCache = TOKENS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__(config)
        timeout = seconds_setting(self.config, "timeout", "PA")
        for key, allowed in (("syntax", SYNTAXES), ("profile", FLOW_PROFILES)):
            if self.config[key] not in allowed:
                raise ConfigError(self._choice_message(key, self.config[key]))
        self.http = http or platform_client(timeout)
        self.tokens = tokens
        self.clock = clock
        #: What one ``receive`` call fetches at most: flows, and bytes (a flow too).
        self.receive_most = RECEIVE_MOST
        self.max_download = MAX_DOWNLOAD

    @staticmethod
    def _choice_message(key: str, value: object) -> str:
        allowed = SYNTAXES if key == "syntax" else FLOW_PROFILES
        return f"Réglage PA « {key} » : {' ou '.join(allowed)} est attendu, pas « {value} »."

    # --- settings ------------------------------------------------------------------------

    def settings(self, member: dict | None) -> dict:
        """The member's settings, checked; raise PermanentOutletError naming the setting."""
        settings = merged_settings(member or {}, self.config)
        missing = [key for key in (*URL_KEYS, *CREDENTIAL_KEYS) if not settings.get(key)]
        if missing:
            raise PermanentOutletError(
                "Réglages de la plateforme agréée incomplets : " + ", ".join(missing) + " "
                "manquant(s). Renseignez les adresses et les identifiants donnés par votre "
                "plateforme.",
                findings=[
                    Finding(
                        code="setting.required",
                        field=f"settings.{NAME}.{key}",
                        message=f"Réglage PA « {key} » manquant.",
                    )
                    for key in missing
                ],
            )
        for key in URL_KEYS:
            if not str(settings[key]).startswith(("http://", "https://")):
                raise setting_error(
                    key, f"Réglage PA « {key} » : une adresse http(s) est attendue."
                )
            # a member's server, allowed when saved, may no longer be
            check_outbound_url(str(settings[key]), setting=f"settings.{NAME}.{key}")
        for key in ("syntax", "profile"):
            allowed = SYNTAXES if key == "syntax" else FLOW_PROFILES
            if settings.get(key) not in allowed:
                raise setting_error(key, self._choice_message(key, settings.get(key)))
        return settings

    def client(self, settings: dict) -> FlowClient:
        session = OAuthSession(
            str(settings["token_url"]),
            str(settings["client_id"]),
            str(settings["client_secret"]),
            self.http,
            self.tokens,
            platform=PLATFORM,
            setting_prefix=f"settings.{NAME}",
        )
        return FlowClient(str(settings["flow_url"]), session, PLATFORM)

    def document_format(self, settings: dict) -> tuple[str, str] | None:
        settings = merged_settings(settings or {}, self.config)
        renderer = SYNTAXES.get(settings.get("syntax"), SYNTAXES["Factur-X"])[0]
        return renderer, MAPPING_PROFILES.get(settings.get("profile"), "fr-2026")

    # --- send ----------------------------------------------------------------------------

    def send(self, invoice: Invoice, documents: list[Document], context: SendContext) -> Receipt:
        settings = self.settings(context.settings)
        client = self.client(settings)
        tracking = tracking_id(context.invoice_id)
        since = context.state.get(UNCERTAIN_SINCE)
        if context.attempt > 1 or since:
            earlier = self._found_again(client, tracking)
            if earlier is not None:
                return self._receipt(earlier, tracking, invoice, again=True)
        content, filename, media_type = self._document(invoice, documents, context, settings)
        since = since if isinstance(since, str) else self.clock().isoformat()
        # Should this worker die during the call, the next attempt must look first.
        context.remember({UNCERTAIN_SINCE: since})
        flow_info = {
            "trackingId": tracking,
            "name": filename,
            "processingRule": "B2B",
            "flowSyntax": SYNTAXES[settings["syntax"]][1],
            "flowProfile": FLOW_PROFILES[settings["profile"]],
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        try:
            created = client.deposit(flow_info, filename, content, media_type)
        except UnavailableOutletError as ex:  # nothing left: what was kept before stands
            raise UnavailableOutletError(ex.message, state={}, retry_after=ex.retry_after) from ex
        except UncertainOutletError as ex:
            raise UncertainOutletError(ex.message, state={UNCERTAIN_SINCE: since}) from ex
        except FlowRefused as ex:
            raise self._refusal(ex) from ex
        if created.get("sha256") not in (None, flow_info["sha256"]):
            log.error("pa.digest_mismatch", invoice_id=context.invoice_id)
        return self._receipt(created, tracking, invoice, again=False)

    def _found_again(self, client: FlowClient, tracking: str) -> dict | None:
        """On a later attempt: the flow an earlier attempt deposited, if the platform has it."""
        try:
            found = client.search({"trackingId": tracking, "flowDirection": ["Out"]})
        except TransientOutletError as ex:  # before depositing: nothing left
            raise UnavailableOutletError(ex.message, retry_after=ex.retry_after) from ex
        found = [flow for flow in found if flow.get("trackingId") == tracking]
        if found:
            log.info("pa.flow_found", flow_id=found[0]["flowId"])
        return min(found, key=lambda flow: str(flow.get("submittedAt") or "")) if found else None

    def _document(
        self, invoice: Invoice, documents: list[Document], context: SendContext, settings: dict
    ) -> tuple[bytes, str, str]:
        renderer, profile = self.document_format(settings)
        extension = ".pdf" if renderer == "facturx" else ".xml"
        media_type = "application/pdf" if renderer == "facturx" else "application/xml"
        filename = f"facture_{invoice.number}{extension}".replace("/", "_")
        for document in documents:
            if document.name == f"facture{extension}":
                return document.content, filename, media_type
        return context.render(renderer, invoice, profile), filename, media_type

    @staticmethod
    def _refusal(ex: FlowRefused) -> PermanentOutletError:
        message = (
            f"{ex.message} Corrigez la facture ou les réglages de la plateforme puis renvoyez-la."
        )
        return PermanentOutletError(
            message,
            findings=[Finding(code="pa.refused", rule=NAME, message=message)],
        )

    def _receipt(self, flow: dict, tracking: str, invoice: Invoice, again: bool) -> Receipt:
        flow_id = str(flow["flowId"])
        text = f"Déposée sur la plateforme agréée, flux N° {flow_id}"
        if again:
            text += " (lors d'un essai précédent : pas de second dépôt)"
        return Receipt(
            outlet=self.name,
            reference=flow_id,
            status="DEPOSEE",
            at=platform_time(flow.get("submittedAt")),
            comment=text,
            data={
                "flow_id": flow_id,
                "tracking_id": tracking,
                "number": invoice.number,
                # whose statuses are these: the CDAR messages name the issuer's SIREN
                "seller_siren": (invoice.seller.siret or "")[:9] or None,
                "submitted_at": flow.get("submittedAt"),
                "sha256": flow.get("sha256"),
                "flow_syntax": flow.get("flowSyntax"),
                "flow_profile": flow.get("flowProfile"),
            },
        )

    # --- poll ----------------------------------------------------------------------------

    def poll(self, receipts: list[Receipt], context: PollContext) -> list[StatusUpdate]:
        """Each flow's Metadata gives its acknowledgement; its lifecycle statuses come from the
        CDAR flows the platform delivers (``CustomerInvoiceLC``, XP Z12-013), or from the
        Metadata's ``lifecycle`` list when the platform gives one (the PA sandbox does)."""
        client = self.client(self.settings(context.settings))
        flows = {}
        for receipt in receipts:
            flow_id = receipt.data.get("flow_id") or receipt.reference
            try:
                flows[receipt.reference] = client.metadata(flow_id)
            except FlowRefused as ex:
                if ex.http_status != 404:
                    raise
                log.warning("pa.flow_unknown", flow_id=flow_id)
        listed = {ref: metadata_steps(flow) for ref, flow in flows.items() if "lifecycle" in flow}
        unlisted = [r for r in receipts if r.reference in flows and r.reference not in listed]
        found = self._cdar_steps(client, unlisted) if unlisted else {}
        return [
            self._update(
                receipt,
                flows[receipt.reference],
                listed.get(receipt.reference) or found.get(invoice_key(receipt), []),
            )
            for receipt in receipts
            if receipt.reference in flows
        ]

    def _cdar_steps(self, client: FlowClient, receipts: list[Receipt]) -> dict[tuple, list]:
        """(invoice number, seller SIREN) → its lifecycle steps, read from the CDAR flows
        delivered since the oldest of ``receipts`` was deposited; an unreadable one is
        skipped, the others still count."""
        # the core hands receipts back with their data, not their time
        deposited = (platform_time(r.data.get("submitted_at")) or r.at for r in receipts)
        since = min(filter(None, deposited), default=None)
        where: dict = {"flowType": ["CustomerInvoiceLC"], "flowDirection": ["In"]}
        if since is not None:
            where["updatedAfter"] = (since - OVERLAP).isoformat()
        keys = {invoice_key(r) for r in receipts}
        steps: dict[tuple, list] = {}
        for flow in client.search(where):
            try:
                messages = cdar.statuses(client.download(str(flow["flowId"]), "Original").content)
            except (FormatError, PermanentOutletError) as ex:
                log.warning("pa.cdar_skipped", flow_id=flow.get("flowId"), error=str(ex))
                continue
            for message in messages:
                for key in {(message.number, message.seller_siren), (message.number, None)}:
                    if key in keys:
                        at = message.at or platform_time(flow.get("submittedAt"))
                        steps.setdefault(key, []).append(
                            step(message.code, at, message.reason_code, message.reason)
                        )
        return {key: sorted(found, key=step_time) for key, found in steps.items()}

    def _update(self, receipt: Receipt, flow: dict, steps: list[tuple]) -> StatusUpdate:
        submitted = platform_time(flow.get("submittedAt")) or receipt.at
        history: list = [("DEPOSEE", submitted, receipt.comment)]
        ack = flow.get("acknowledgement") or {}
        ack_status = ack.get("status") if isinstance(ack, dict) else None
        data: dict = {"ack_status": ack_status}
        findings: list[Finding] = []
        if ack_status == "Error":
            reasons = self._ack_reasons(ack)
            history.append(
                (
                    ACK_ERROR_STATUS,
                    platform_time(flow.get("updatedAt")),
                    "Refusée par la plateforme agréée : " + reasons,
                )
            )
            message = (
                f"La plateforme agréée a refusé la facture : {reasons}. Corrigez-la puis "
                "renvoyez-la sous le même numéro (action « correct »)."
            )
            findings.append(Finding(code="pa.refused", rule=NAME, message=message))
        else:
            for status, at, text, more in steps:
                history.append((status, at, text))
                data.update(more)
        history = collapse(history)
        status, at, text = history[-1]
        return StatusUpdate(
            invoice_id=receipt.invoice_id or "",
            status=status,
            at=at,
            comment=text,
            data=data,
            history=history,
            findings=findings,
        )

    @staticmethod
    def _ack_reasons(ack: dict) -> str:
        details = ack.get("details") if isinstance(ack.get("details"), list) else []
        said = [
            f"{d.get('reasonCode') or 'motif'} : {d.get('reasonMessage') or 'sans libellé'}"
            + (f" ({d['item']})" if d.get("item") else "")
            for d in details
            if isinstance(d, dict) and d.get("level", "Error") == "Error"
        ]
        return "; ".join(said) or "sans motif"

    # --- receive and answer --------------------------------------------------------------

    def receive(self, context: ReceiveContext) -> tuple[list[InboundFlow], dict]:
        """The flows delivered since the cursor, oldest first, at most :attr:`receive_most`
        of them and about :attr:`max_download` bytes in all: the cursor stops at the last
        one handled, the next call goes on from there. A flow that cannot be read for good
        (unknown, too large) is skipped; a transient failure ends the call, cursor unmoved.

        The state keeps the cursor (``updated_after``) and the flows handled within
        :data:`OVERLAP` of it (``seen``): the search starts that much earlier, so flows
        sharing the cursor's time are found again, and only those already handled dropped."""
        client = self.client(self.settings(context.settings))
        where: dict = {"flowType": INBOUND_TYPES, "flowDirection": ["In"]}
        cursor = platform_time(context.state.get("updated_after"))
        if cursor is not None:
            where["updatedAfter"] = (cursor - OVERLAP).isoformat()
        seen = set(context.state.get("seen") or ())
        found = client.search(where, most=self.receive_most + len(seen))
        times = {flow["flowId"]: platform_time(flow.get("updatedAt")) for flow in found}
        fresh = sorted(
            (flow for flow in found if flow["flowId"] not in seen),
            key=lambda flow: times[flow["flowId"]] or cursor or NEVER,
        )
        inbound: list[InboundFlow] = []
        latest, size = cursor, 0
        for flow in fresh[: self.receive_most]:
            if size >= self.max_download:  # enough held in memory for one call
                break
            latest = max(filter(None, (latest, times[flow["flowId"]])), default=None)
            seen.add(flow["flowId"])
            if (flow.get("acknowledgement") or {}).get("status") == "Error":
                continue
            try:
                original = client.download(str(flow["flowId"]), "Original", self.max_download)
            except PermanentOutletError as ex:  # a TransientOutletError goes up
                log.warning("pa.flow_skipped", flow_id=flow["flowId"], error=ex.message)
                continue
            size += len(original.content)
            inbound.append(
                InboundFlow(
                    reference=str(flow["flowId"]),
                    content=original.content,
                    filename=original.filename,
                    media_type=original.media_type,
                    received_at=platform_time(flow.get("submittedAt")),
                    data={
                        key: flow.get(key)
                        for key in ("flowSyntax", "flowProfile", "trackingId", "processingRule")
                        if flow.get(key) is not None
                    },
                )
            )
        state = {**context.state}
        if latest is not None:
            state["updated_after"] = latest.isoformat()
            state["seen"] = sorted(
                flow_id
                for flow_id in seen
                if flow_id in times and (times[flow_id] or latest) >= latest - OVERLAP
            )
        return inbound, state

    def answer(
        self,
        reference: str,
        status: str,
        reason: str | None,
        comment: str | None,
        context: ReceiveContext,
    ) -> str:
        client = self.client(self.settings(context.settings))
        # the core's id of this answer: the same status may be answered again (204, 208, 204);
        # an id is the core's own, so it is named with the flow it is about
        answer = status if context.answer_id is None else f"answer/{context.answer_id}"
        tracking = tracking_id(f"{reference}/{answer}")
        earlier = self._found_again(client, tracking)  # an earlier try went through
        if earlier is not None:
            return str(earlier["flowId"])
        facts = cdar.invoice_facts(client.download(reference, "Original").content)
        if facts is None:
            raise PermanentOutletError(
                f"Le flux {reference} n'est pas une facture lisible (CII, UBL ou Factur-X) : "
                "la plateforme agréée ne peut pas recevoir de statut à son sujet."
            )
        document = cdar.lifecycle_message(facts, status, reason, comment, self.clock(), tracking)
        flow_info = {
            "trackingId": tracking,
            "name": f"cdar_{reference}_{status}.xml",
            "processingRule": "B2B",
            "flowSyntax": "CDAR",
            "sha256": hashlib.sha256(document).hexdigest(),
        }
        try:
            created = client.deposit(flow_info, flow_info["name"], document, "application/xml")
        except FlowRefused as ex:
            raise self._refusal(ex) from ex
        return str(created["flowId"])

    # --- health --------------------------------------------------------------------------

    def health(self, settings: dict | None = None) -> dict:
        """Can these settings obtain a token, and does the Flow Service say it is up."""
        try:
            client = self.client(self.settings(settings))
            client.session.token()
            client.healthcheck()
        except OutletError as ex:
            return {"ok": False, "error": ex.message}
        return {"ok": True}
