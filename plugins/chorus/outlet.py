"""The ``chorus`` outlet: deposit invoices on Chorus Pro through its API, then follow them.

Send deposits the very document validated at acceptance (Factur-X by default, or CII or
UBL) as a flux; with the ``batch`` capability a member's due invoices leave together, as
one archive (tar.gz) in one flux. Poll reads the flux report; once the flux is integrated,
it finds each invoice's platform id among the supplier's invoices of that flux (every
page), then follows its status history. A rejected flux or invoice becomes ``EN_ERREUR``
with findings naming the field to fix. Recycle and complete are the corrective actions of
``A_RECYCLER`` and ``SUSPENDUE``. See docs/outlets/chorus.md.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePath
from zoneinfo import ZoneInfo

import httpx
from lxml import etree

from gateway.plugin_api import (
    ConfigField,
    Cost,
    Document,
    Finding,
    Invoice,
    Outlet,
    OutletError,
    PermanentOutletError,
    PollContext,
    Receipt,
    SendContext,
    StatusUpdate,
    TransientOutletError,
    UnavailableOutletError,
    UncertainOutletError,
    check_outbound_url,
    get_logger,
    parse_xml,
)
from plugins.chorus.api import (
    CREDENTIAL_KEYS,
    DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
    TOKENS,
    ChorusBusinessError,
    ChorusClient,
    ChorusConfigError,
    ChorusTransientError,
    Credentials,
    TokenCache,
    new_http_client,
)
from plugins.chorus.limits import (
    FLUX_MAX_BYTES,
    FLUX_MAX_INVOICES,
    attachment_findings,
)

log = get_logger(__name__)

NAME = "chorus"
PARIS = ZoneInfo("Europe/Paris")
ERROR_STATUS = "EN_ERREUR"
#: The member's syntax → (renderer, ``syntaxeFlux``).
SYNTAXES = {
    "facturx": ("facturx", "IN_DP_E2_CII_FACTURX"),
    "cii": ("cii", "IN_DP_E1_CII_16B"),
    "ubl": ("ubl", "IN_DP_E1_UBL_INVOICE"),
}
#: Flux states after which nothing more happens to the flux (reference §2.2).
FLUX_INTEGRATED = frozenset({"IN_INTEGRE", "IN_INTEGRE_PARTIEL"})
FLUX_REFUSED = frozenset(
    {"IN_REJETE", "IN_INCIDENTE", "QP_IRRECEVABLE", "QP_RECEVABLE_AVEC_ERREUR"}
)
#: Settings that belong to one environment and are never inherited across environments.
URL_KEYS = ("token_url", "api_url")
ENVIRONMENT_KEYS = (*CREDENTIAL_KEYS, *URL_KEYS)
COMMENT_MAX = 2000
#: What ``SendContext.state`` keeps between attempts: when a deposit ended without a
#: certain answer (ISO time, wall clock: another worker process may read it).
UNCERTAIN_SINCE = "uncertain_deposit_since"
#: Words of a platform refusal → the canonical field to fix (first match wins).
REFUSAL_FIELDS = (
    (re.compile(r"num[ée]ro de (la )?facture", re.I), "number"),
    (re.compile(r"service", re.I), "references.service_code"),
    (re.compile(r"engagement|\bEJ\b|bon de commande", re.I), "references.engagement"),
    (re.compile(r"fournisseur", re.I), "seller.siret"),
    (re.compile(r"destinataire", re.I), "buyer.siret"),
)


def platform_time(value: str | None) -> datetime | None:
    """Read a platform date (ISO with offset, ``AAAA-MM-JJ HH:MI`` or a date), keeping its
    offset (the core stores it as given beside UTC).

    Times without an offset are Paris time.
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PARIS)
    return parsed


def merged_settings(member: dict, own: dict) -> dict:
    """Return the member's settings over the plugin's own.

    The plugin's credentials and URLs are inherited only when both name the same
    environment: switching environment switches the whole credential set at once.
    """
    member = {key: value for key, value in member.items() if value not in (None, "")}
    environment = member.get("environment") or own.get("environment") or "sandbox"
    inherited = dict(own)
    # A member's own server would receive the association's credentials: it gets none.
    elsewhere = any(member.get(key, own.get(key)) != own.get(key) for key in URL_KEYS)
    if (own.get("environment") or "sandbox") != environment or elsewhere:
        for key in ENVIRONMENT_KEYS:
            inherited.pop(key, None)
    return {**inherited, **member, "environment": environment}


def syntax_of(content: bytes) -> str:
    """Return the ``syntaxeFlux`` of a document from its bytes, so it always matches them."""
    if content.startswith(b"%PDF"):
        return SYNTAXES["facturx"][1]
    if etree.QName(parse_xml(content)).localname == "CrossIndustryInvoice":
        return SYNTAXES["cii"][1]
    return SYNTAXES["ubl"][1]


def safe_file_name(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9_+\-]", "_", number)


@dataclass
class Pending:
    """An invoice of a batch that is to be deposited: where its result goes, what leaves."""

    index: int
    invoice: Invoice
    content: bytes
    context: SendContext

    @property
    def file_name(self) -> str:
        extension = ".pdf" if self.content.startswith(b"%PDF") else ".xml"
        return f"facture_{safe_file_name(self.invoice.number)}{extension}"


def flux_chunks(pending: list[Pending]) -> Iterator[list[Pending]]:
    """Split invoices into flux within the platform's limits (a too large one goes alone)."""
    chunk: list[Pending] = []
    size = 0
    for item in pending:
        full = len(chunk) >= FLUX_MAX_INVOICES or size + len(item.content) > FLUX_MAX_BYTES
        if chunk and full:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item.content)
    if chunk:
        yield chunk


def tar_gz(files: list[tuple[str, bytes]], mtime: float) -> bytes:
    """Return a gzip-compressed tar archive of ``files`` (name, content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = int(mtime)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def unique_names(names: list[str]) -> list[str]:
    """Make file names unique within an archive (two numbers may sanitise alike)."""
    seen: set[str] = set()
    unique = []
    for name in names:
        stem, dot, extension = name.rpartition(".")
        candidate, counter = name, 1
        while candidate in seen:
            counter += 1
            candidate = f"{stem}_{counter}{dot}{extension}"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def refusal_finding(code: str, message: str, text: str) -> Finding:
    """A finding for a platform refusal, on the field its wording points at (if any)."""
    field = next((name for pattern, name in REFUSAL_FIELDS if pattern.search(text)), None)
    return Finding(code=code, message=message, field=field, rule=NAME)


def technical_findings(report: dict) -> list[Finding]:
    findings = [
        refusal_finding(
            "chorus.flux_rejected",
            "Chorus Pro a rejeté le fichier déposé "
            f"({error.get('natureErreur') or 'erreur'} {error.get('codeErreur') or ''}) : "
            f"{error.get('libelleErreur') or 'sans détail'}. Corrigez la facture puis renvoyez-la.",
            error.get("libelleErreur") or "",
        )
        for error in report.get("listeErreurTechnique") or []
    ]
    return findings or [
        Finding(
            code="chorus.flux_rejected",
            rule=NAME,
            message=(
                f"Chorus Pro n'a pas pu traiter le fichier déposé (état "
                f"{report.get('etatCourantDepotFlux')}) : renvoyez la facture."
            ),
        )
    ]


def dp_finding(error: dict) -> Finding:
    text = error.get("libelleErreurDP") or ""
    return refusal_finding(
        "chorus.invoice_rejected",
        f"Chorus Pro a refusé la facture : {text.strip() or 'sans motif'} "
        "Corrigez-la puis renvoyez-la (le même numéro peut resservir : elle n'a pas été déposée).",
        text,
    )


def invoice_identity(invoice: Invoice) -> dict:
    """What tells this invoice from another with the same number on the platform."""
    return {
        "number": invoice.number,
        "buyer_siret": invoice.buyer.siret,
        "amount": str(invoice.computed_totals().tax_inclusive),
    }


def same_invoice(item: dict, identity: dict) -> bool:
    """Is the platform's ``item`` the invoice ``identity`` describes (recipient, total)?"""
    try:
        amount = abs(Decimal(str(item.get("montantTTC"))))
    except ArithmeticError:
        return False
    expected = abs(Decimal(identity["amount"]))
    return item.get("codeDestinataire") == identity["buyer_siret"] and amount == expected


def duplicate_finding(number: str) -> Finding:
    return Finding(
        code="invoice.duplicate",
        field="number",
        rule=NAME,
        message=(
            f"Le numéro de facture « {number} » est déjà utilisé sur Chorus Pro pour une autre "
            "facture : donnez à celle-ci un numéro qui n'a jamais servi."
        ),
    )


def uncertain_since(state: dict) -> datetime | None:
    """When a deposit of the invoice first ended without a certain answer, if it did."""
    value = state.get(UNCERTAIN_SINCE)
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def oldest_first(entries: list[dict]) -> list[tuple[str, datetime, str | None]]:
    """Return a history as (status, time, comment), oldest first.

    Passage times are given to the minute and listed newest first: entries of the same
    minute keep the platform's order, reversed (its id breaks ties when there is one).
    """
    rows = []
    for index, entry in enumerate(reversed(entries)):
        at = platform_time(entry.get("histoStatutDatePassage"))
        if at is None or not entry.get("histoStatutCode"):
            log.warning("chorus.history_entry_skipped", entry=entry)
            continue
        tie = entry.get("histoStatutId") or 0
        comment = entry.get("histoStatutCommentaire") or None
        rows.append(((at, tie, index), (entry["histoStatutCode"], at, comment)))
    rows.sort(key=lambda row: row[0])
    return [item for _, item in rows]


class ChorusOutlet(Outlet):
    name = NAME
    label = "Chorus Pro (API PISTE)"
    capabilities = frozenset({"send", "batch", "poll", "recycle", "complete", "directory"})
    config_fields = {
        "environment": ConfigField(
            '"sandbox" (PISTE qualification) or "production": picks both URLs and the set',
            default="sandbox",
        ),
        "token_url": ConfigField("PISTE OAuth token URL, to override the environment's", url=True),
        "api_url": ConfigField("PISTE API base URL, to override the environment's", url=True),
        "client_id": ConfigField("PISTE application client id"),
        "client_secret": ConfigField("PISTE application client secret", secret=True),
        "login": ConfigField("Chorus Pro technical account login (TECH_1_…@cpro.fr)"),
        "password": ConfigField("Chorus Pro technical account password", secret=True),
        "syntax": ConfigField('document deposited: "facturx", "cii" or "ubl"', default="facturx"),
        "timeout": ConfigField("seconds an API call may take", default=DEFAULT_TIMEOUT),
        "retry_delay": ConfigField(
            "seconds before a read that failed transiently is repeated (twice, doubling)",
            default=DEFAULT_RETRY_DELAY,
        ),
        "settle_seconds": ConfigField(
            "after an uncertain deposit, how long to wait for it to show before depositing again",
            default=300.0,
        ),
        "forbidden_references": ConfigField(
            '[plugins.chorus] only: "refuse" or "strip" a service code or engagement number '
            "the buyer does not ask for",
            default="refuse",
        ),
    }
    cost = Cost(note="gratuit (API Chorus Pro)")

    def __init__(
        self,
        config: dict | None = None,
        *,
        http: httpx.Client | None = None,
        tokens: TokenCache = TOKENS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__(config)
        if self.config["syntax"] not in SYNTAXES:
            raise ChorusConfigError(
                f"Réglage Chorus Pro « syntax » inconnu : « {self.config['syntax']} » "
                f"(valeurs possibles : {', '.join(SYNTAXES)})."
            )
        self.http = http or new_http_client(float(self.config["timeout"]))
        self.tokens = tokens
        self.clock = clock

    # --- settings -----------------------------------------------------------------------

    def settings(self, member: dict | None) -> dict:
        return merged_settings(member or {}, self.config)

    def client(self, member: dict | None) -> ChorusClient:
        settings = self.settings(member)
        for key in URL_KEYS:  # a member's server, allowed when saved, may no longer be
            if (member or {}).get(key):
                check_outbound_url(member[key], setting=f"settings.{self.name}.{key}")
        return ChorusClient(
            Credentials.from_settings(settings),
            self.http,
            self.tokens,
            outlet=self.name,
            # The association's, like the time-out: a member's must not hold the worker.
            retry_delay=float(self.config["retry_delay"]),
        )

    def document_format(self, settings: dict) -> tuple[str, str] | None:
        syntax = self.settings(settings).get("syntax") or "facturx"
        renderer = SYNTAXES[syntax][0] if syntax in SYNTAXES else syntax
        return renderer, "chorus"

    # --- send ---------------------------------------------------------------------------

    def send(self, invoice: Invoice, documents: list[Document], context: SendContext) -> Receipt:
        (result,) = self.send_batch([(invoice, documents, context)])
        if isinstance(result, Exception):
            raise result
        return result

    def send_batch(
        self, items: list[tuple[Invoice, list[Document], SendContext]]
    ) -> list[Receipt | Exception]:
        """Deposit a member's invoices as one flux: a lone file, or a tar.gz of several.

        An invoice tried before is first looked up on the platform, and left out when it is
        there already (its receipt is rebuilt) or when an uncertain deposit of it may still
        be processed. Each deposited invoice gets the flux number in its own receipt.
        """
        client = self.client(items[0][2].settings)  # one member: one credential set
        results: list[Receipt | Exception | None] = [None] * len(items)
        by_syntax: dict[str, list[Pending]] = {}
        for index, (invoice, documents, context) in enumerate(items):
            try:
                results[index] = self._found_again(client, invoice, context)
                if results[index] is None:
                    content = self._document(invoice, documents, context)
                    pending = Pending(index, invoice, content, context)
                    by_syntax.setdefault(syntax_of(content), []).append(pending)
            except ChorusTransientError as ex:  # before any deposit: nothing left
                results[index] = UnavailableOutletError(ex.message, state={})
            except Exception as ex:  # this invoice's failure spares the others of the batch
                results[index] = ex
        for syntax, pending in by_syntax.items():
            for chunk in flux_chunks(pending):
                for item, result in zip(chunk, self._deposit(client, syntax, chunk), strict=True):
                    results[item.index] = result
        return results

    def _document(self, invoice: Invoice, documents: list[Document], context: SendContext) -> bytes:
        """Return the document validated at acceptance (or render it when there is none)."""
        for document in documents:
            if document.name.startswith("facture."):
                return document.content
        renderer, profile = self.document_format(context.settings)
        return context.render(renderer, invoice, profile)

    def _found_again(
        self, client: ChorusClient, invoice: Invoice, context: SendContext
    ) -> Receipt | None:
        """On a later attempt: the receipt of an earlier deposit the platform shows, or None
        when the invoice may be deposited; raise while an uncertain deposit may still show."""
        if context.attempt <= 1:
            return None
        identity = invoice_identity(invoice)
        earlier = self._deposited(client, identity)
        if earlier is not None:
            log.info("chorus.deposit_found", invoice_id=context.invoice_id)
            return self._receipt_for(earlier, identity)
        since = uncertain_since(context.state)
        settle = timedelta(seconds=float(self.config["settle_seconds"]))
        if since is not None and self.clock() - since < settle:
            raise UnavailableOutletError(
                "le dépôt précédent n'a pas eu de réponse certaine ; la passerelle attend que "
                "Chorus Pro l'ait traité avant de décider s'il faut déposer de nouveau"
            )
        return None

    def _deposit(
        self, client: ChorusClient, syntax: str, chunk: list[Pending]
    ) -> list[Receipt | OutletError]:
        """Deposit ``chunk`` as one flux; return each invoice's receipt or error, in order."""
        prefix = syntax.lower()
        if len(chunk) == 1:
            content, filename = chunk[0].content, f"{prefix}_{chunk[0].file_name}"
        else:
            names = unique_names([item.file_name for item in chunk])
            now = self.clock().timestamp()
            content = tar_gz([(n, item.content) for n, item in zip(names, chunk, strict=True)], now)
            filename = f"{prefix}_lot_factures.tar.gz"
        # Should this worker die during the call, the next attempt (in any process) must
        # treat the deposit as uncertain: say so, committed, before calling.
        for item in chunk:
            since = uncertain_since(item.context.state) or self.clock()
            item.context.remember({UNCERTAIN_SINCE: since.isoformat()})
        try:
            answer = client.deposit_flux(content, filename, syntax)
        except ChorusTransientError as ex:
            return [self._unanswered(ex, item.context) for item in chunk]
        except OutletError as ex:
            return [ex] * len(chunk)
        flux = answer.get("numeroFluxDepot")
        if not flux:
            # Taken or not, the platform did not say under which flux: as uncertain as a
            # lost answer, so that the next attempt looks for the invoice first.
            odd = ChorusTransientError(
                "Réponse inattendue de Chorus Pro au dépôt : aucun numeroFluxDepot",
                uncertain=True,
            )
            return [self._unanswered(odd, item.context) for item in chunk]
        comment = f"Déposée sur Chorus Pro (flux {flux}"
        comment += f", lot de {len(chunk)} factures" if len(chunk) > 1 else ""
        return [
            Receipt(
                outlet=self.name,
                reference=flux,
                status="DEPOSEE",
                comment=comment + "), en attente d'intégration",
                data={
                    **invoice_identity(item.invoice),
                    "numeroFluxDepot": flux,
                    "dateDepot": answer.get("dateDepot"),
                    "syntaxeFlux": answer.get("syntaxeFlux") or syntax,
                },
            )
            for item in chunk
        ]

    def _unanswered(self, error: ChorusTransientError, context: SendContext) -> OutletError:
        """The error of a deposit that failed transiently: certainly not taken (the platform
        is unavailable: no attempt used up), or uncertain (it may have taken it), which is
        remembered with the invoice from its first occurrence."""
        if not error.uncertain:
            return UnavailableOutletError(error.message, state={})  # nothing to wait for
        since = uncertain_since(context.state) or self.clock()
        return UncertainOutletError(error.message, state={UNCERTAIN_SINCE: since.isoformat()})

    def _deposited(self, client: ChorusClient, identity: dict) -> dict | None:
        """Return this very invoice if the platform already has it (found by its number).

        Another invoice with the same number (deposited outside the gateway) is a
        duplicate the bookseller must resolve: it is never taken for this one.
        """
        number = identity["number"]
        found = [
            item
            for item in client.supplier_invoices(numeroFacture=number)
            if item.get("numeroFacture") == number
        ]
        same = [item for item in found if same_invoice(item, identity)]
        if same:
            return same[0]
        if found:
            raise PermanentOutletError(
                f"Le numéro de facture « {number} » est déjà utilisé sur Chorus Pro par une "
                "autre facture de ce fournisseur (autre destinataire ou autre montant).",
                findings=[duplicate_finding(number)],
            )
        return None

    def _receipt_for(self, item: dict, identity: dict) -> Receipt:
        flux = item.get("numeroFluxDepot") or ""
        return Receipt(
            outlet=self.name,
            reference=flux,
            status="DEPOSEE",
            comment=(
                f"Déjà déposée sur Chorus Pro (flux {flux}) lors d'un essai précédent : "
                "pas de second dépôt"
            ),
            data={
                **identity,
                "numeroFluxDepot": flux,
                "identifiantFactureCPP": item.get("identifiantFactureCPP"),
            },
        )

    # --- poll ---------------------------------------------------------------------------

    def poll(self, receipts: list[Receipt], context: PollContext) -> list[StatusUpdate]:
        client = self.client(context.settings)
        waiting: dict[str, list[Receipt]] = {}
        jobs: list[tuple[str, Callable[[], list[StatusUpdate]]]] = []
        for receipt in receipts:
            if receipt.data.get("identifiantFactureCPP"):
                jobs.append(
                    (receipt.reference, lambda r=receipt: [self._history_update(client, r)])
                )
            else:
                waiting.setdefault(receipt.reference, []).append(receipt)
        jobs += [
            (flux, lambda f=flux, g=group: self._flux_updates(client, f, g))
            for flux, group in waiting.items()
        ]
        updates: list[StatusUpdate] = []
        failures: list[ChorusTransientError] = []
        for flux, job in jobs:
            # One flux the platform cannot answer for now must not hide the others.
            try:
                updates.extend(job())
            except ChorusTransientError as ex:
                failures.append(ex)
            except ChorusBusinessError as ex:  # e.g. a flux or invoice it does not know
                log.warning("chorus.poll_refused", flux=flux, code=ex.code, libelle=ex.libelle)
        if failures and not updates:
            raise failures[0]
        return updates

    def _flux_updates(
        self, client: ChorusClient, flux: str, receipts: list[Receipt]
    ) -> list[StatusUpdate]:
        report = client.flux_report(flux, receipts[0].data.get("syntaxeFlux"))
        state = report.get("etatCourantDepotFlux")
        if state not in FLUX_INTEGRATED | FLUX_REFUSED:
            return []  # still being processed
        at = platform_time(report.get("dateHeureEtatCourantFlux"))
        refused = {error.get("numeroDP"): error for error in report.get("listeErreurDP") or []}
        integrated = {}
        if state in FLUX_INTEGRATED:
            integrated = {
                item.get("numeroFacture"): item
                for item in client.supplier_invoices(numeroFluxDepot=flux)
            }
        updates = []
        for receipt in receipts:
            number = receipt.data.get("number")
            item = integrated.get(number)
            if item is None and number in refused:
                # A second deposit after an uncertain first one is refused as a duplicate:
                # the invoice then lives in the earlier flux.
                try:
                    item = self._deposited(client, receipt.data)
                except PermanentOutletError:
                    item = None
                if item is None:
                    comment = f"Facture refusée par Chorus Pro (flux {flux})"
                    findings = [dp_finding(refused[number])]
                    updates.append(self._error_update(receipt, findings, comment, at))
                    continue
            elif item is None and state in FLUX_REFUSED:
                comment = f"Flux {flux} rejeté par Chorus Pro"
                updates.append(self._error_update(receipt, technical_findings(report), comment, at))
                continue
            if item is not None:
                data = {"identifiantFactureCPP": item.get("identifiantFactureCPP")}
                if item.get("numeroFluxDepot") not in (None, flux):
                    data["numeroFluxDepot"] = item["numeroFluxDepot"]
                updates.append(self._integrated_update(client, receipt, item, data))
        return updates

    def _integrated_update(
        self, client: ChorusClient, receipt: Receipt, item: dict, data: dict
    ) -> StatusUpdate:
        """The first news of an integrated invoice: still ``DEPOSEE``, the search result says
        all (one call saved per invoice); moved on already, its history says what happened."""
        at = platform_time(item.get("dateHeureEtatCourant"))
        if item.get("statut") != "DEPOSEE" or at is None:
            return self._history_update(client, receipt, data)
        comment = item.get("commentaireEtatCourant") or None
        return StatusUpdate(
            invoice_id=receipt.invoice_id or "",
            status="DEPOSEE",
            at=at,
            comment=comment,
            data=data,
            history=[("DEPOSEE", at, comment)],
        )

    def _error_update(
        self, receipt: Receipt, findings: list[Finding], comment: str, at: datetime | None
    ) -> StatusUpdate:
        details = " ".join(finding.message for finding in findings)
        return StatusUpdate(
            invoice_id=receipt.invoice_id or "",
            status=ERROR_STATUS,
            at=at,
            comment=f"{comment} : {details}",
            findings=findings,
        )

    def _history_update(
        self, client: ChorusClient, receipt: Receipt, data: dict | None = None
    ) -> StatusUpdate:
        data = data or {}
        cpp_id = data.get("identifiantFactureCPP") or receipt.data["identifiantFactureCPP"]
        current, entries = client.invoice_history(cpp_id)
        history = oldest_first(entries)
        status = current or (history[-1][0] if history else "DEPOSEE")
        latest = next((entry for entry in reversed(history) if entry[0] == status), None)
        return StatusUpdate(
            invoice_id=receipt.invoice_id or "",
            status=status,
            at=latest[1] if latest else None,
            comment=latest[2] if latest else None,
            data=data,
            history=history,
        )

    # --- corrective actions -------------------------------------------------------------

    @staticmethod
    def _platform_id(receipt: Receipt) -> int:
        cpp_id = receipt.data.get("identifiantFactureCPP")
        if not cpp_id:
            raise PermanentOutletError(
                "Chorus Pro n'a pas encore intégré cette facture : l'action sera possible une "
                "fois son statut connu."
            )
        return cpp_id

    def recycle(self, receipt: Receipt, invoice: Invoice, context: SendContext) -> Receipt:
        cpp_id = self._platform_id(receipt)
        recipient = {"codeDestinataire": invoice.buyer.siret}
        if invoice.references.service_code:
            recipient["codeServiceExecutant"] = invoice.references.service_code
        extra = {}
        if invoice.references.engagement:
            extra["reference"] = {"numeroBonCommande": invoice.references.engagement}
        answer = self.client(context.settings).recycle(
            cpp_id, recipient, "Destinataire corrigé par le fournisseur", **extra
        )
        return Receipt(
            outlet=self.name,
            reference=receipt.reference,
            status=answer.get("statutFacture") or "DEPOSEE",
            at=platform_time(answer.get("dateDepot")),
            comment=f"Recyclée vers le SIRET {invoice.buyer.siret}"
            + (
                f", service {invoice.references.service_code}"
                if invoice.references.service_code
                else ""
            ),
            data={**receipt.data, "identifiantFactureCPP": cpp_id},
        )

    def completion_findings(self, attachments: list[Document], comment: str) -> list[Finding]:
        findings = attachment_findings(attachments)
        if len(comment) > COMMENT_MAX:
            findings.append(
                Finding(
                    code="comment.too_long",
                    field="comment",
                    rule=NAME,
                    message=f"Le commentaire dépasse {COMMENT_MAX} caractères.",
                )
            )
        return findings

    def complete(
        self, receipt: Receipt, attachments: list[Document], comment: str, context: SendContext
    ) -> Receipt:
        cpp_id = self._platform_id(receipt)
        findings = self.completion_findings(attachments, comment)
        if findings:
            raise PermanentOutletError(
                " ".join(finding.message for finding in findings), findings=findings
            )
        client = self.client(context.settings)
        pieces = []
        for attachment in attachments:
            extension = PurePath(attachment.name).suffix.lstrip(".").upper()
            piece_id = client.add_file(
                attachment.content, attachment.name, attachment.media_type, extension
            )
            pieces.append(
                {
                    "pieceJointeComplementaireDesignation": PurePath(attachment.name).stem,
                    "pieceJointeComplementaireId": piece_id,
                }
            )
        answer = client.complete(cpp_id, comment, pieces)
        return Receipt(
            outlet=self.name,
            reference=receipt.reference,
            status="COMPLETEE",
            at=platform_time(answer.get("dateTraitement")),
            comment=f"Complétée de {len(pieces)} pièce(s) jointe(s)",
            data={**receipt.data, "identifiantFactureCPP": cpp_id},
        )

    # --- health -------------------------------------------------------------------------

    def health(self, settings: dict | None = None) -> dict:
        """Check the token, the technical account and its password's expiry date."""
        result: dict = {"ok": False, "environment": self.settings(settings)["environment"]}
        try:
            client = self.client(settings)
            client.token()
            result["token"] = "ok"
            structures = client.supplier_structures()
            result["technical_account"] = "ok"
            if structures:
                details = client.structure(structures[0]["idStructureCPP"])
                general = details.get("informationGenerales") or {}
                expiry = platform_time(general.get("dateExpirationMotPasseCompteTech"))
                if expiry is not None:
                    result.update(self._expiry(expiry.astimezone(PARIS).date()))
        except (PermanentOutletError, TransientOutletError) as ex:
            result["error"] = ex.message
            return result
        result["ok"] = True
        return result

    def _expiry(self, expires: date) -> dict:
        days = (expires - self.clock().astimezone(PARIS).date()).days
        info: dict = {"password_expires": expires.isoformat(), "password_expires_in_days": days}
        if days <= 30:
            info["warnings"] = [
                f"Le mot de passe du compte technique Chorus Pro expire le "
                f"{expires.strftime('%d/%m/%Y')} ({max(days, 0)} jour(s)) : renouvelez-le dans "
                "le portail Chorus Pro puis mettez-le à jour dans les réglages."
            ]
        return info
