"""What Dilifac does, as modelled: take deposits, check them, forward them to Chorus Pro and
follow them there; the operations of the WSDL, one method each."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lxml import etree

from .soap import E, Fault, Request, parser, text, texts
from .store import Store

PARIS = ZoneInfo("Europe/Paris")
#: The way a deposit goes when nobody intervenes; each step after ``pace`` seconds.
PATH = (
    "RECUE", "TRANSMISE_CHORUS", "DEPOSEE", "MISE_A_DISPOSITION", "SERVICE_FAIT", "MANDATEE",
    "MISE_EN_PAIEMENT",
)  # fmt: skip
ACCOUNTING = ("MISE_A_DISPOSITION_COMPTABLE", "COMPTABILISEE")
FINAL = frozenset({"MISE_EN_PAIEMENT", "REJETEE", "REFUSEE"})
#: Waiting for the supplier (Chorus Pro's recycle and complete are not modelled).
SUPPLIER_TURN = frozenset({"A_RECYCLER", "SUSPENDUE"})
SETTABLE = (*PATH[1:], *ACCOUNTING, "A_RECYCLER", "SUSPENDUE", "REJETEE", "REFUSEE")
NEED_REASON = frozenset({"A_RECYCLER", "SUSPENDUE", "REJETEE", "REFUSEE"})
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_IDS = 200
RETENTION = "P10Y"
CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"


class Conflict(Exception):
    """A move the control API refuses (from a final status…)."""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, PARIS).isoformat(timespec="seconds")


def read_time(value: str) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as ex:
        raise Fault("REQUETE_INVALIDE", f"Date illisible : « {value} ».") from ex
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=PARIS)).timestamp()


def controls(syntax: str, number: str, content: bytes) -> tuple[str, str] | None:
    """Dilifac's checks of the file: None when it passes, else (code, French reason)."""
    if syntax == "INVOIC":
        head = content[:3]
        if head not in (b"UNA", b"UNB") or b"INVOIC" not in content:
            return "FORMAT", "Le fichier n'est pas un message EDIFACT INVOIC."
        if not re.search(rb"BGM\+380[^']*\+" + re.escape(number.encode()), content):
            return "NUMERO", f"Le numéro de facture du fichier n'est pas « {number} »."
        return None
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        return "FORMAT", "Le fichier contient une déclaration DOCTYPE ou une entité."
    try:
        root = etree.fromstring(content, parser())
    except (etree.XMLSyntaxError, ValueError):
        return "FORMAT", "Le fichier n'est pas un document XML lisible."
    if root.tag != f"{{{CII}}}CrossIndustryInvoice":
        return "FORMAT", "Le fichier n'est pas une facture CII (CrossIndustryInvoice)."
    found = root.findtext(f"{{{CII}}}ExchangedDocument/{{{RAM}}}ID")
    if (found or "").strip() != number:
        return "NUMERO", f"Le numéro de facture du fichier ({found}) n'est pas « {number} »."
    return None


class Dilifac:
    """The service over its store; ``clock`` gives epoch seconds (moved by the control API)."""

    def __init__(self, store: Store, clock: Callable[[], float], pace: float | None):
        self.store = store
        self.clock = clock
        self.pace = pace
        self.lock = threading.Lock()

    # --- the operations of the WSDL ---------------------------------------------------------

    def call(self, request: Request) -> etree._Element:
        operation = getattr(self, f"op_{request.operation}", None)
        if operation is None:
            raise Fault("OPERATION_INCONNUE", f"Opération inconnue : {request.operation}.")
        subscriber = self.authenticate(request)
        self.run_due()
        return operation(subscriber, request.body)

    def authenticate(self, request: Request) -> dict:
        subscriber = self.store.subscriber(request.login) if request.login else None
        if subscriber is None or not hmac.compare_digest(
            subscriber["password"].encode(), request.password.encode()
        ):
            raise Fault("AUTHENTIFICATION", "Identifiant ou mot de passe Dilifac refusé.")
        return subscriber

    def op_TesterConnexion(self, subscriber: dict, body) -> etree._Element:
        return E.TesterConnexionReponse(
            E.abonne(subscriber["name"]),
            E.siret(subscriber["siret"]),
            E.finAbonnement(subscriber["subscription_end"]),
        )

    def op_DeposerFacture(self, subscriber: dict, body) -> etree._Element:
        siret = self._own_siret(subscriber, text(body, "siretFournisseur"))
        number = text(body, "numeroFacture")
        syntax = text(body, "syntaxe")
        reference = text(body, "referenceClient")
        if syntax not in ("CII", "INVOIC"):
            raise Fault("SYNTAXE_INCONNUE", f"Syntaxe inconnue : « {syntax} » (CII ou INVOIC).")
        if len(number) > 20 or not re.fullmatch(r"[A-Za-z0-9_/+\-]+", number):
            raise Fault("NUMERO_INVALIDE", f"Numéro de facture invalide : « {number} ».")
        try:
            content = base64.b64decode(text(body, "fichier"), validate=True)
        except binascii.Error as ex:
            raise Fault("REQUETE_INVALIDE", "Le fichier n'est pas en base64.") from ex
        if len(content) > MAX_FILE_BYTES:
            raise Fault("TROP_VOLUMINEUX", "Le fichier dépasse 10 Mo.")
        with self.lock:  # one check-then-insert at a time: a deposit is never made twice
            earlier = self.store.deposit(login=subscriber["login"], client_ref=reference)
            if earlier is not None:
                if (earlier["siret"], earlier["numero"]) != (siret, number):
                    raise Fault(
                        "REFERENCE_DEJA_UTILISEE",
                        f"La référence « {reference} » a déjà servi pour une autre facture.",
                    )
                return E.DeposerFactureReponse(self.depot(earlier), E.dejaRecu("true"))
            if self.store.deposit(siret=siret, numero=number) is not None:
                raise Fault(
                    "FACTURE_EN_DOUBLE",
                    f"La facture « {number} » de ce fournisseur a déjà été déposée.",
                )
            now = self.clock()
            refusal = controls(syntax, number, content)
            deposit = {
                "id": "DLF-" + uuid.uuid4().hex[:16].upper(),
                "login": subscriber["login"],
                "siret": siret,
                "numero": number,
                "client_ref": reference,
                "syntax": syntax,
                "file_name": text(body, "nomFichier", required=False) or f"{number}.xml",
                "content": content,
                "sha256": hashlib.sha256(content).hexdigest(),
                "received_at": now,
                "status": "RECUE",
                "status_at": now,
                "refusal_code": refusal[0] if refusal else None,
                "refusal": refusal[1] if refusal else None,
            }
            self.store.insert_deposit(deposit, f"Reçue par Dilifac, archivée ({deposit['id']})")
        return E.DeposerFactureReponse(self.depot(self.store.deposit(id=deposit["id"])),
                                       E.dejaRecu("false"))  # fmt: skip

    def op_ConsulterStatuts(self, subscriber: dict, body) -> etree._Element:
        ids = texts(body, "idDepot")
        since = text(body, "depuis", required=False)
        if len(ids) > MAX_IDS:
            raise Fault("REQUETE_INVALIDE", f"Au plus {MAX_IDS} dépôts par appel.")
        if not ids and since is None:
            raise Fault("REQUETE_INVALIDE", "Donnez des identifiants de dépôt ou une date.")
        login = subscriber["login"]
        if ids:
            found = [d for i in ids for d in self.store.deposits(id=i, login=login)]
        else:
            found = self.store.deposits(since=read_time(since), login=login)
        return E.ConsulterStatutsReponse(*(self.depot(deposit) for deposit in found))

    def op_ObtenirAccuseArchivage(self, subscriber: dict, body) -> etree._Element:
        deposit = self._own_deposit(subscriber, text(body, "idDepot"))
        document = self.receipt(deposit)
        return E.ObtenirAccuseArchivageReponse(
            E.accuse(
                E.idDepot(deposit["id"]),
                E.empreinteSha256(deposit["sha256"]),
                E.dateArchivage(iso(deposit["received_at"])),
                E.dureeConservation(RETENTION),
                E.typeMime("application/xml"),
                E.document(base64.b64encode(document).decode("ascii")),
            )
        )

    def op_RechercherDepot(self, subscriber: dict, body) -> etree._Element:
        siret = self._own_siret(subscriber, text(body, "siretFournisseur"))
        deposit = self.store.deposit(siret=siret, numero=text(body, "numeroFacture"))
        return E.RechercherDepotReponse(*([self.depot(deposit)] if deposit else []))

    def _own_siret(self, subscriber: dict, siret: str) -> str:
        if siret != subscriber["siret"]:
            raise Fault(
                "SIRET_NON_AUTORISE", f"Le SIRET {siret} n'est pas couvert par cet abonnement."
            )
        return siret

    def _own_deposit(self, subscriber: dict, deposit_id: str) -> dict:
        deposit = self.store.deposit(id=deposit_id, login=subscriber["login"])
        if deposit is None:  # another subscriber's is unknown too
            raise Fault("DEPOT_INCONNU", f"Aucun dépôt « {deposit_id} » pour cet abonné.")
        return deposit

    # --- views --------------------------------------------------------------------------------

    def depot(self, deposit: dict) -> etree._Element:
        steps = []
        for step in self.store.history(deposit["id"]):
            element = E.etape(E.statut(step["status"]), E.date(iso(step["at"])))
            for name, key in (
                ("commentaire", "comment"),
                ("numeroFluxDepot", "flux"),
                ("codeMotif", "reason_code"),
                ("motif", "reason"),
            ):
                if step[key]:
                    element.append(E(name, step[key]))
            steps.append(element)
        element = E.depot(
            E.idDepot(deposit["id"]),
            E.siretFournisseur(deposit["siret"]),
            E.numeroFacture(deposit["numero"]),
            E.referenceClient(deposit["client_ref"]),
            E.syntaxe(deposit["syntax"]),
            E.dateReception(iso(deposit["received_at"])),
            E.empreinteSha256(deposit["sha256"]),
            E.statutCourant(deposit["status"]),
        )
        if deposit["flux"]:
            element.append(E.numeroFluxDepot(deposit["flux"]))
        element.append(E.historique(*steps))
        return element

    def receipt(self, deposit: dict) -> bytes:
        """The archive receipt: what was archived (its SHA-256), when, for how long."""
        receipt = E.AccuseArchivage(
            E.idDepot(deposit["id"]),
            E.siretFournisseur(deposit["siret"]),
            E.numeroFacture(deposit["numero"]),
            E.nomFichier(deposit["file_name"]),
            E.empreinte(deposit["sha256"], algorithme="SHA-256"),
            E.dateArchivage(iso(deposit["received_at"])),
            E.dureeConservation(RETENTION),
            E.emetteur("Bac à sable Dilifac (facture-gateway)"),
        )
        return etree.tostring(receipt, xml_declaration=True, encoding="utf-8", pretty_print=True)

    # --- statuses moving on -------------------------------------------------------------------

    @staticmethod
    def next_status(deposit: dict) -> str | None:
        status = deposit["status"]
        if status == "RECUE":
            return "REFUSEE" if deposit["refusal_code"] else "TRANSMISE_CHORUS"
        if status in ACCOUNTING:
            return "MISE_EN_PAIEMENT"
        if status in PATH[:-1]:
            return PATH[PATH.index(status) + 1]
        return None

    def move(self, deposit: dict, status: str | None = None, reason: str | None = None,
             at: float | None = None) -> dict:  # fmt: skip
        """Move a deposit to ``status`` (None: the next one); raise Conflict if it cannot."""
        current = deposit["status"]
        status = status or self.next_status(deposit)
        if status is None or current in FINAL:
            raise Conflict(f"the deposit is {current}: nothing follows")
        if status not in SETTABLE:
            raise Conflict(f"unknown status {status}; one of {', '.join(SETTABLE)}")
        if current in SUPPLIER_TURN and status != "REJETEE":
            raise Conflict(f"from {current} only REJETEE (the supplier acts next)")
        if status == "REFUSEE" and current != "RECUE":
            raise Conflict("only a deposit RECUE can be REFUSEE")
        if current == "RECUE" and status not in ("TRANSMISE_CHORUS", "REFUSEE"):
            raise Conflict("a deposit RECUE is TRANSMISE_CHORUS or REFUSEE first")
        at = self.clock() if at is None else at
        step: dict = {"comment": reason}
        if status == "TRANSMISE_CHORUS":
            flux = f"CPP0010DLF{int(at * 1000) % 10**11:011d}"
            step = {"comment": f"Transmise à Chorus Pro (flux {flux})", "flux": flux}
        elif status == "REFUSEE":
            code = deposit["refusal_code"] or "CONTROLE"
            why = reason or deposit["refusal"] or "Refus simulé par le bac à sable."
            step = {"comment": f"Refusée par Dilifac : {why}", "reason_code": code, "reason": why}
        elif status in NEED_REASON:
            if not reason:
                raise Conflict(f"{status} needs a reason")
            step = {"comment": reason, "reason_code": status, "reason": reason}
        self.store.move(deposit["id"], status, at, **step)
        return self.store.deposit(id=deposit["id"])

    def run_due(self) -> None:
        """Move every deposit whose next step is due (one step a ``pace``)."""
        if self.pace is None:
            return
        now = self.clock()
        with self.lock:
            for deposit in self.store.deposits():
                while (
                    deposit["status"] not in FINAL | SUPPLIER_TURN
                    and self.next_status(deposit)
                    and deposit["status_at"] + self.pace <= now
                ):
                    deposit = self.move(deposit, at=deposit["status_at"] + self.pace)


def utc_now() -> float:
    return datetime.now(UTC).timestamp()
