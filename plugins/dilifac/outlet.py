"""The ``dilifac`` outlet: invoices deposited with Dilicom's Dilifac service, which archives
the supplier's original and forwards the invoice to Chorus Pro, then followed there.

Send deposits the CII validated at acceptance, with the invoice id as the deposit's client
reference; a later attempt first asks Dilifac whether it already holds the invoice, so that
an uncertain deposit is never made twice. The archive receipt comes with the deposit's
receipt (archived with the invoice). Poll maps Dilifac's statuses onto the lifecycle:
received → ``DEPOSEE``, forwarded to Chorus Pro → ``EN_COURS_ACHEMINEMENT``, then the Chorus
Pro codes verbatim, Dilifac's refusal → ``EN_ERREUR``. See docs/outlets/dilifac.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import httpx

from gateway.plugin_api import (
    ConfigError,
    ConfigField,
    Cost,
    Document,
    Finding,
    Invoice,
    Outlet,
    OutletError,
    PermanentOutletError,
    PollContext,
    PriceBand,
    Receipt,
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
from plugins.dilifac.transport import (
    Deposit,
    DepositRequest,
    DilifacFault,
    DilifacTransport,
    SoapTransport,
    Step,
)

log = get_logger(__name__)

NAME = "dilifac"
PARIS = ZoneInfo("Europe/Paris")
ERROR_STATUS = "EN_ERREUR"
#: Statuses asked for in one call (the WSDL's maximum).
STATUS_BATCH = 200
CREDENTIAL_KEYS = ("login", "password")
#: What ``SendContext.state`` keeps: when a deposit first ended without a certain answer.
UNCERTAIN_SINCE = "uncertain_deposit_since"
ARCHIVE_RECEIPT = "accuse-archivage-dilifac.xml"
#: The shipped price bands: the guide gives 0.14 to 0.20 € HT "depending on the number of
#: lines" and no bands; these are an assumption, to replace with Dilicom's tariff.
DEFAULT_BANDS = (
    {"max_lines": 20, "price": "0.14"},
    {"max_lines": 100, "price": "0.17"},
    {"price": "0.20"},
)
#: Dilifac's refusal codes → the canonical field to fix.
REFUSAL_FIELDS = {"NUMERO": "number", "SIRET": "seller.siret", "DESTINATAIRE": "buyer.siret"}
#: Fault codes of a deposit → (finding code, field).
DEPOSIT_FAULTS = {
    "FACTURE_EN_DOUBLE": ("invoice.duplicate", "number"),
    "NUMERO_INVALIDE": ("dilifac.refused", "number"),
    "SIRET_NON_AUTORISE": ("dilifac.refused", "seller.siret"),
}


def _amount(config: dict, key: str) -> Decimal:
    try:
        value = Decimal(str(config[key]))
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise ConfigError(
            f"Réglage Dilifac « {key} » : un montant positif en euros HT est attendu, "
            f"pas « {config[key]} »."
        )
    return value


def _band(index: int, band: object) -> PriceBand:
    where = f"Réglage Dilifac « price_bands » (tranche {index + 1})"
    if not isinstance(band, dict) or set(band) - {"max_lines", "price"}:
        raise ConfigError(f"{where} : {{max_lines, price}} est attendu, pas « {band} ».")
    max_lines = band.get("max_lines")
    if max_lines is not None and (not isinstance(max_lines, int) or max_lines < 1):
        raise ConfigError(f"{where} : max_lines est un nombre de lignes, pas « {max_lines} ».")
    return PriceBand(max_lines, _amount({"price_bands": band.get("price")}, "price_bands"))


def euros(amount: Decimal) -> str:
    return str(amount).replace(".", ",")


def tariff(config: dict) -> Cost:
    """The Dilifac tariff the settings give (raise ConfigError naming the setting)."""
    bands = config.get("price_bands") or ()
    if not isinstance(bands, list | tuple):
        raise ConfigError("Réglage Dilifac « price_bands » : une liste de tranches est attendue.")
    parsed = tuple(_band(index, band) for index, band in enumerate(bands))
    assumed = [dict(band) for band in bands] == [dict(band) for band in DEFAULT_BANDS]
    prices = [band.price for band in parsed]
    note = (
        "Dilifac (Dilicom) : abonnement annuel, prix par facture selon le nombre de lignes"
        + (f" ({euros(min(prices))} à {euros(max(prices))} € HT)" if prices else "")
        + ", archivage 10 ans par tranche de 100 lignes commencée"
        + (
            " ; tranches de lignes supposées (le guide ne les donne pas) : remplacez-les par "
            "le tarif détaillé de Dilicom"
            if assumed
            else ""
        )
    )
    try:
        return Cost(
            bands=parsed,
            per_year=_amount(config, "subscription_per_year"),
            archive_price=_amount(config, "archive_price_per_100_lines"),
            archive_lines=100,
            note=note,
        )
    except ValueError as ex:
        raise ConfigError(
            "Réglage Dilifac « price_bands » : les tranches vont par nombre de lignes croissant, "
            "la tranche sans max_lines en dernier, et une facture de moins de lignes ne coûte "
            "jamais plus."
        ) from ex


def merged_settings(member: dict, own: dict) -> dict:
    """Return the member's settings over the plugin's own. The plugin's credentials go only
    to the plugin's own ``url``: a member naming another server inherits none."""
    member = {key: value for key, value in member.items() if value not in (None, "")}
    inherited = dict(own)
    if member.get("url", own.get("url")) != own.get("url"):
        for key in CREDENTIAL_KEYS:
            inherited.pop(key, None)
    return {**inherited, **member}


def platform_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=PARIS)


def uncertain_since(state: dict) -> str | None:
    value = state.get(UNCERTAIN_SINCE)
    return value if isinstance(value, str) else None


def collapse(steps: list[tuple[str, datetime, str | None]]) -> list:
    """Drop a step of the same status as the one before (Chorus Pro's own ``DEPOSEE`` after
    Dilifac's forwarding): the result of a longer history starts with that of a shorter one,
    so the core's count of applied steps stays right."""
    kept: list = []
    for step in steps:
        if not kept or kept[-1][0] != step[0]:
            kept.append(step)
    return kept


class DilifacOutlet(Outlet):
    name = NAME
    label = "Dilifac (Dilicom), vers Chorus Pro"
    capabilities = frozenset({"send", "poll", "directory"})
    config_fields = {
        "url": ConfigField("Dilifac web service endpoint (SOAP)", url=True),
        "login": ConfigField("the subscriber's Dilifac login"),
        "password": ConfigField("the subscriber's Dilifac password", secret=True),
        "timeout": ConfigField("seconds a call may take (connection: 10 at most)", default=30.0),
        "subscription_per_year": ConfigField(
            "yearly subscription, euros excluding VAT", default="144"
        ),
        "price_bands": ConfigField(
            "price of one invoice by its number of lines: a list of {max_lines, price}, the "
            "last without max_lines (euros excluding VAT)",
            default=DEFAULT_BANDS,
        ),
        "archive_price_per_100_lines": ConfigField(
            "10-year archiving, euros excluding VAT per started block of 100 lines",
            default="0.03",
        ),
    }
    cost = tariff({key: spec.default for key, spec in config_fields.items()})

    def __init__(
        self,
        config: dict | None = None,
        *,
        http: httpx.Client | None = None,
        transport: Callable[[dict, httpx.Client], DilifacTransport] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__(config)
        timeout = seconds_setting(self.config, "timeout", "Dilifac")
        self._tariff = tariff(self.config)
        self.http = http or platform_client(timeout)
        self.make_transport = transport or (
            lambda s, h: SoapTransport(s["url"], s["login"], s["password"], h)
        )
        self.clock = clock

    def price_list(self) -> Cost:
        return self._tariff

    def document_format(self, settings: dict) -> tuple[str, str] | None:
        # INVOIC would need an EDIFACT renderer, which the gateway does not have.
        return "cii", "chorus"

    # --- settings ------------------------------------------------------------------------

    def transport(self, member: dict | None) -> DilifacTransport:
        """The transport for a member's settings; raise PermanentOutletError naming the
        setting that is missing or refused."""
        settings = merged_settings(member or {}, self.config)
        missing = [key for key in ("url", *CREDENTIAL_KEYS) if not settings.get(key)]
        if missing:
            raise PermanentOutletError(
                "Réglages Dilifac incomplets : " + ", ".join(missing) + " manquant(s). "
                "Renseignez l'adresse du service et les codes transmis par Dilicom.",
                findings=[
                    Finding(
                        code="setting.required",
                        field=f"settings.{NAME}.{key}",
                        message=f"Réglage Dilifac « {key} » manquant.",
                    )
                    for key in missing
                ],
            )
        if not str(settings["url"]).startswith(("http://", "https://")):
            raise PermanentOutletError(
                f"Réglage Dilifac « url » : une adresse http(s) est attendue, "
                f"pas « {settings['url']} »."
            )
        # a member's server, allowed when saved, may no longer be
        check_outbound_url(str(settings["url"]), setting=f"settings.{NAME}.url")
        return self.make_transport(settings, self.http)

    # --- send ----------------------------------------------------------------------------

    def send(self, invoice: Invoice, documents: list[Document], context: SendContext) -> Receipt:
        transport = self.transport(context.settings)
        siret, number = invoice.seller.siret or "", invoice.number
        if context.attempt > 1 or uncertain_since(context.state):
            earlier = self._found_again(transport, siret, number, context)
            if earlier is not None:
                return self._receipt(transport, earlier, again=True)
        content = self._document(invoice, documents, context)
        since = uncertain_since(context.state) or self.clock().isoformat()
        # Should this worker die during the call, the next attempt must look first.
        context.remember({UNCERTAIN_SINCE: since})
        request = DepositRequest(
            siret=siret,
            number=number,
            syntax="CII",
            file_name=f"facture_{number}.xml",
            content=content,
            client_reference=context.invoice_id,
        )
        try:
            deposit = transport.deposit(request)
        except UnavailableOutletError as ex:
            raise UnavailableOutletError(ex.message, state={}) from ex
        except UncertainOutletError as ex:
            raise UncertainOutletError(ex.message, state={UNCERTAIN_SINCE: since}) from ex
        except DilifacFault as ex:
            raise self._refusal(ex, number) from ex
        if deposit.sha256 != hashlib.sha256(content).hexdigest():
            log.error("dilifac.digest_mismatch", invoice_id=context.invoice_id)
        return self._receipt(transport, deposit, again=deposit.already_received)

    def _found_again(
        self, transport: DilifacTransport, siret: str, number: str, context: SendContext
    ) -> Deposit | None:
        """On a later attempt: this invoice's deposit if Dilifac holds it; another deposit
        under its number is a duplicate the bookseller resolves."""
        try:
            found = transport.find_deposit(siret, number)
        except TransientOutletError as ex:  # before depositing: nothing left
            raise UnavailableOutletError(ex.message) from ex
        if found is None or found.client_reference == context.invoice_id:
            if found is not None:
                log.info("dilifac.deposit_found", invoice_id=context.invoice_id)
            return found
        raise self._refusal(DilifacFault("FACTURE_EN_DOUBLE", "numéro déjà déposé"), number)

    def _document(self, invoice: Invoice, documents: list[Document], context: SendContext) -> bytes:
        for document in documents:
            if document.name.startswith("facture."):
                return document.content
        renderer, profile = self.document_format(context.settings)
        return context.render(renderer, invoice, profile)

    @staticmethod
    def _refusal(fault: DilifacFault, number: str) -> PermanentOutletError:
        if fault.code == "AUTHENTIFICATION":
            return PermanentOutletError(
                "Dilifac refuse l'identifiant ou le mot de passe : vérifiez les réglages "
                "login et password (les codes transmis par Dilicom).",
                findings=[
                    Finding(
                        code="dilifac.authentication",
                        field=f"settings.{NAME}.password",
                        rule=NAME,
                        message="Identifiant ou mot de passe Dilifac refusé.",
                    )
                ],
            )
        code, field = DEPOSIT_FAULTS.get(fault.code, ("dilifac.refused", None))
        message = (
            f"Le numéro de facture « {number} » a déjà été déposé chez Dilifac pour une autre "
            "facture : donnez à celle-ci un numéro qui n'a jamais servi."
            if code == "invoice.duplicate"
            else f"{fault.message} Corrigez la facture ou les réglages puis renvoyez-la."
        )
        return PermanentOutletError(
            message, findings=[Finding(code=code, field=field, rule=NAME, message=message)]
        )

    def _receipt(self, transport: DilifacTransport, deposit: Deposit, again: bool) -> Receipt:
        comment = f"Reçue par Dilifac, dépôt N° {deposit.deposit_id}"
        if again:
            comment += " (lors d'un essai précédent : pas de second dépôt)"
        data = {
            "deposit_id": deposit.deposit_id,
            "number": deposit.number,
            "siret": deposit.siret,
            "sha256": deposit.sha256,
        }
        documents = []
        try:
            receipt = transport.archive_receipt(deposit.deposit_id)
        except OutletError as ex:  # the deposit is made: the receipt must not undo it
            log.warning("dilifac.archive_receipt_missing", deposit_id=deposit.deposit_id)
            data["archive_receipt_error"] = ex.message
        else:
            documents.append(Document(ARCHIVE_RECEIPT, receipt.media_type, receipt.document))
            data["archived_at"] = receipt.archived_at.isoformat()
        return Receipt(
            outlet=self.name,
            reference=deposit.deposit_id,
            status="DEPOSEE",
            at=platform_time(deposit.received_at),
            comment=comment,
            data=data,
            documents=documents,
        )

    # --- poll ----------------------------------------------------------------------------

    def poll(self, receipts: list[Receipt], context: PollContext) -> list[StatusUpdate]:
        transport = self.transport(context.settings)
        by_id = {
            receipt.data.get("deposit_id") or receipt.reference: receipt for receipt in receipts
        }
        ids = list(by_id)
        updates = []
        for start in range(0, len(ids), STATUS_BATCH):
            for deposit in transport.statuses(ids[start : start + STATUS_BATCH]):
                receipt = by_id.get(deposit.deposit_id)
                if receipt is not None and deposit.history:
                    updates.append(self._update(receipt, deposit))
        return updates

    def _update(self, receipt: Receipt, deposit: Deposit) -> StatusUpdate:
        history = collapse([self._step(deposit, step) for step in deposit.history])
        status, at, comment = history[-1]
        refused = deposit.history[-1] if deposit.history[-1].status == "REFUSEE" else None
        data = {"dilifac_status": deposit.status}
        if deposit.flux:
            data["numeroFluxDepot"] = deposit.flux
        return StatusUpdate(
            invoice_id=receipt.invoice_id or "",
            status=status,
            at=at,
            comment=comment,
            data=data,
            history=history,
            findings=[self._finding(refused)] if refused else [],
        )

    @staticmethod
    def _step(deposit: Deposit, step: Step) -> tuple[str, datetime, str | None]:
        at = platform_time(step.at)
        flux = step.flux or deposit.flux
        if step.status == "RECUE":
            return "DEPOSEE", at, f"Reçue par Dilifac, dépôt N° {deposit.deposit_id}"
        if step.status == "TRANSMISE_CHORUS":
            return "EN_COURS_ACHEMINEMENT", at, f"Transmise à Chorus Pro par Dilifac (flux {flux})"
        if step.status == "DEPOSEE":  # Chorus Pro's: on its way to the buyer
            return "EN_COURS_ACHEMINEMENT", at, f"Déposée sur Chorus Pro (flux {flux})"
        if step.status == "REFUSEE":
            return ERROR_STATUS, at, f"Refusée par Dilifac : {step.reason or 'sans motif'}"
        return step.status, at, step.comment or step.reason

    @staticmethod
    def _finding(step: Step) -> Finding:
        return Finding(
            code="dilifac.refused",
            field=REFUSAL_FIELDS.get(step.reason_code or ""),
            rule=NAME,
            message=(
                f"Dilifac a refusé la facture ({step.reason_code or 'contrôle'}) : "
                f"{step.reason or 'sans motif'} Corrigez-la puis renvoyez-la."
            ),
        )

    # --- health --------------------------------------------------------------------------

    def health(self, settings: dict | None = None) -> dict:
        """Can these settings authenticate, is the service reachable, until when."""
        try:
            subscriber = self.transport(settings).check_access()
        except OutletError as ex:
            return {"ok": False, "error": ex.message}
        result: dict = {
            "ok": True,
            "subscriber": subscriber.name,
            "sirets": list(subscriber.sirets),
        }
        if subscriber.subscription_end:
            result.update(self._expiry(subscriber.subscription_end))
        return result

    def _expiry(self, ends: date) -> dict:
        days = (ends - self.clock().astimezone(PARIS).date()).days
        info: dict = {"subscription_ends": ends.isoformat(), "subscription_ends_in_days": days}
        if days <= 30:
            info["warnings"] = [
                f"L'abonnement Dilifac prend fin le {ends.strftime('%d/%m/%Y')} "
                f"({max(days, 0)} jour(s)) : renouvelez-le auprès de Dilicom."
            ]
        return info
