"""The member's invoices: what needs doing first ("À traiter"), the whole list with its
filters and search, and the upload of a document from the bookshop's software."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from datetime import date, datetime, time
from urllib.parse import urlencode

import falcon

from gateway import lifecycle
from gateway.errors import Conflict, DomainError, InvalidInput, TooLarge, UnsupportedFormat
from gateway.resources import read_body
from gateway.resources.actions import multipart_handler
from gateway.routing import CHANNEL_WORDS
from gateway.times import PARIS
from gateway.web.site import Page, Site, member_of

#: Invoices a page of the list shows, unless the bookseller chooses one of PAGE_SIZES.
PAGE_SIZE = 50
PAGE_SIZES = (10, 20, 50, 100)
#: Chips count a status up to this many: beyond, "1 000+" (a bounded read of the index).
COUNT_CAP = 1000
#: The channels as the list's column names them.
CHANNEL_LABELS = {
    "chorus": "Chorus Pro",
    "dilifac": "Dilifac",
    "manual_pdf": "Dépôt sur le portail",
    "paper": "Papier",
    "pa": "Plateforme agréée",
}
#: The formats as the upload page names them (others by their registered name).
FORMAT_NAMES = {
    "json": "JSON de la passerelle",
    "facturx": "Factur-X",
    "cii": "CII",
    "ubl": "UBL",
    "csv": "CSV",
    "edifact": "EDIFACT",
    "zip": "ZIP",
}
#: A document checked is carried to "Envoyer" in the page (base64) up to this size; a
#: larger one is chosen again, and must be the one checked (same SHA-256).
KEEP_LIMIT = 1024 * 1024

#: The canonical invoice's fields as a bookseller names them (findings carry the paths).
FIELD_LABELS = {
    "number": "Numéro de facture",
    "type": "Type de document",
    "issue_date": "Date de facture",
    "due_date": "Date d'échéance",
    "delivery_date": "Date de livraison",
    "currency": "Devise",
    "seller": "Vendeur",
    "seller.name": "Raison sociale du vendeur",
    "seller.siret": "SIRET du vendeur",
    "seller.vat_id": "N° de TVA du vendeur",
    "seller.address": "Adresse du vendeur",
    "seller.email": "E-mail du vendeur",
    "buyer": "Acheteur",
    "buyer.name": "Nom de l'acheteur",
    "buyer.siret": "SIRET de l'acheteur",
    "buyer.vat_id": "N° de TVA de l'acheteur",
    "buyer.address": "Adresse de l'acheteur",
    "buyer.email": "E-mail de l'acheteur",
    "references.service_code": "Code service",
    "references.engagement": "Numéro d'engagement",
    "references.purchase_order": "Bon de commande",
    "references.contract": "Numéro de marché",
    "references.buyer_accounting_reference": "Référence comptable de l'acheteur",
    "preceding_invoice.number": "Numéro de la facture d'origine",
    "preceding_invoice.issue_date": "Date de la facture d'origine",
    "delivery_notes": "Bons de livraison",
    "lines": "Lignes",
    "charges": "Frais",
    "allowances": "Remises",
    "payment": "Paiement",
    "payment.iban": "IBAN",
    "payment.bic": "BIC",
    "payment.means_code": "Moyen de paiement",
    "payment.terms": "Conditions de paiement",
    "notes": "Mentions",
    "totals": "Totaux",
    "totals.tax_exclusive": "Total HT",
    "totals.vat": "Total TVA",
    "totals.tax_inclusive": "Total TTC",
    "totals.payable": "Net à payer",
    "Content-Type": "Format du document",
    "format": "Format du document",
    "fichier": "Document",
}
#: The fields of a line, a charge or an allowance (``lines[2].net_price``).
PART_LABELS = {
    "lines": "Ligne",
    "charges": "Frais",
    "allowances": "Remise",
    "vat_breakdown": "TVA",
}
ITEM_LABELS = {
    "name": "désignation",
    "item_id": "ISBN / EAN",
    "quantity": "quantité",
    "unit_code": "unité",
    "net_price": "prix unitaire net",
    "gross_price": "prix unitaire brut",
    "price_discount": "remise sur prix",
    "line_amount": "montant HT",
    "vat_rate": "taux de TVA",
    "vat_category": "catégorie de TVA",
    "amount": "montant",
    "reason": "motif",
}
PART = re.compile(r"(?P<part>[a-z_]+)\[(?P<index>\d+)\](?:\.(?P<rest>.+))?")


def field_label(path: str) -> str:
    """The French name of a finding's field (``buyer.siret`` → « SIRET de l'acheteur »,
    ``lines[0].net_price`` → « Ligne 1 : prix unitaire net »), else the path itself."""
    if path in FIELD_LABELS:
        return FIELD_LABELS[path]
    match = PART.fullmatch(path)
    if match and match["part"] in PART_LABELS:
        where = f"{PART_LABELS[match['part']]} {int(match['index']) + 1}"
        rest = match["rest"]
        return f"{where} : {ITEM_LABELS.get(rest, rest)}" if rest else where
    return path


def findings_shown(findings: list[dict]) -> list[tuple[str, list[dict]]]:
    """Findings under their field's French name, in their order ("" for no field)."""
    grouped: dict[str, list[dict]] = {}
    for finding in findings:
        field = finding.get("field") or ""
        grouped.setdefault(field_label(field) if field else "", []).append(finding)
    return list(grouped.items())


class ToDoPage(Page):
    """The invoices waiting for the bookseller, the longest waiting first, each with the
    buyer's reason and the actions it allows."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        listing = self.services.invoices.list(
            member_of(req),
            needs_action=True,
            with_reasons=True,
            limit=100,
            cursor=req.get_param("suite"),
        )
        self.site.render(req, resp, "a_traiter.html", listing=listing)


class InvoicesPage(Page):
    """Every invoice of the member, newest first, narrowed by status, customer, date and a
    search (number, buyer, amount)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        member = member_of(req)
        # Codes unknown here are kept (the platform's), but a bounded number of them.
        statuses = [s for s in req.get_param_as_list("statut") or [] if 0 < len(s) <= 60]
        statuses = list(dict.fromkeys(statuses))[: len(lifecycle.STATUS_LABELS)]
        to_do = req.get_param("a_traiter") == "1"
        text = (req.get_param("q") or "").strip()[:100]
        customer = req.get_param("client") or None
        day = req.get_param("depuis") or ""
        cursor = req.get_param("suite")
        size = next((n for n in PAGE_SIZES if str(n) == req.get_param("par")), PAGE_SIZE)
        errors: dict[str, list[str]] = {}
        since = None
        if day:
            try:
                since = datetime.combine(date.fromisoformat(day), time(), PARIS).isoformat()
            except ValueError:
                errors["depuis"] = ["Indiquez une date (jour, mois, année)."]
        invoices = self.services.invoices
        oldest_first = to_do and not (text or since or statuses)
        if errors:
            listing = {"items": [], "next_cursor": None}
            resp.status = falcon.HTTP_422
        elif oldest_first:
            # Its own index, the longest waiting first.
            listing = invoices.list(
                member, needs_action=True, customer=customer, cursor=cursor, limit=size
            )
        elif text or since or customer or to_do:
            # Filters no index serves in this order: a search over a bounded window.
            listing = invoices.search(
                member,
                text,
                status=statuses or None,
                customer=customer,
                since=since,
                needs_action=to_do,
                cursor=cursor,
                limit=size,
            )
        else:
            listing = invoices.list(member, status=statuses or None, cursor=cursor, limit=size)
        counts = invoices.count_by_status(member, COUNT_CAP)
        customers = self.services.customers.list(member)
        kept = {
            "statut": statuses,
            "a_traiter": "1" if to_do else "",
            "client": customer or "",
            "depuis": day,
            "q": text,
            "par": str(size) if size != PAGE_SIZE else "",
        }
        self.site.render(
            req,
            resp,
            "factures.html",
            listing=listing,
            counts=counts,
            count_cap=COUNT_CAP,
            chips=[s for s in lifecycle.STATUS_LABELS if counts.get(s) or s in statuses],
            customers=customers,
            names={c["siret"]: c["name"] for c in customers},
            channels=CHANNEL_LABELS,
            kept=kept,
            filtered=any(value for name, value in kept.items() if name != "par"),
            errors=errors,
            oldest_first=oldest_first and not errors,
            page_size=size,
            page_sizes=PAGE_SIZES,
            next_query=urlencode(
                {**{k: v for k, v in kept.items() if v}, "suite": listing["next_cursor"] or ""},
                doseq=True,
            ),
        )


class DepositPage(Page):
    """Upload a document from the bookshop's software: "Vérifier" shows what the gateway
    finds and where it would send it, "Envoyer" then submits it."""

    def __init__(self, site: Site):
        super().__init__(site)
        self.max_body = site.config.max_body_bytes
        self.form = multipart_handler(self.max_body)

    def formats(self) -> list[dict]:
        return [
            {"name": handler.name, "extensions": list(handler.extensions)}
            for handler in sorted(self.services.registry.formats.values(), key=lambda h: h.name)
        ]

    def show(self, req, resp, **context) -> None:
        formats = self.formats()
        context = {
            "results": None,
            "refusal": [],
            "kept": None,
            "format_name": "",
            "file_name": "",
            **context,
        }
        self.site.render(
            req,
            resp,
            "deposer.html",
            formats=formats,
            accept=",".join(sorted({ext for f in formats for ext in f["extensions"]})),
            field_label=field_label,
            findings_shown=findings_shown,
            channel_words=CHANNEL_WORDS,
            format_names=FORMAT_NAMES,
            **context,
        )

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show(req, resp)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        member = member_of(req)
        try:
            fields, upload = self.read_form(req)
        except (InvalidInput, TooLarge, UnsupportedFormat) as ex:
            return self.refuse(req, resp, ex)
        format_name = fields.get("format") or None
        if format_name not in (None, *self.services.registry.formats):
            format_name = None
        name, data = upload if upload else (fields.get("nom", ""), None)
        if data is None and fields.get("document"):
            try:
                data = base64.b64decode(fields["document"], validate=True)
            except (binascii.Error, ValueError):
                data = None
        context = {"format_name": format_name or "", "file_name": name}
        if not data:
            return self.refuse(
                req,
                resp,
                InvalidInput.of(
                    "file.missing", "Choisissez le document à déposer.", field="fichier"
                ),
                **context,
            )
        digest = hashlib.sha256(data).hexdigest()
        if fields.get("etape") == "envoyer" and fields.get("empreinte") == digest:
            return self.send(req, resp, member, data, format_name, digest, context)
        # "Vérifier", or another file than the one checked: check this one first.
        try:
            outcome = self.services.invoices.dry_run(member, data, "", format_name)
        except (InvalidInput, TooLarge, UnsupportedFormat) as ex:
            return self.refuse(req, resp, ex, **context)
        results = outcome.get("invoices", [outcome])
        if not outcome["valid"]:
            resp.status = falcon.HTTP_422
        kept = {
            "empreinte": digest,
            "document": base64.b64encode(data).decode() if len(data) <= KEEP_LIMIT else None,
        }
        self.show(req, resp, results=results, valid=outcome["valid"], kept=kept, **context)

    def send(self, req, resp, member, data, format_name, digest, context) -> None:
        # The same bytes (and format) give the same key: a second click or a page sent
        # again answers with the invoice the first one made, never a second invoice.
        key = "web-" + hashlib.sha256(f"{format_name or ''}:{digest}".encode()).hexdigest()
        try:
            accepted = self.services.invoices.submit(member, data, "", format_name, key)
        except (InvalidInput, TooLarge, UnsupportedFormat) as ex:
            return self.refuse(req, resp, ex, **context)
        except Conflict as ex:
            if ex.findings[0].code != "idempotency.in_progress":
                raise
            return self.site.redirect(
                resp, "/app/factures", req=req, flash="Ce document est en cours d'envoi."
            )
        receipts = accepted.receipts
        if len(receipts) == 1:
            receipt = receipts[0]
            words = CHANNEL_WORDS.get(receipt["channel"], receipt["channel"])
            return self.site.redirect(
                resp,
                f"/app/factures/{receipt['id']}",
                req=req,
                flash=f"Facture {receipt['number']} reçue : elle part par {words}.",
            )
        self.site.redirect(
            resp, "/app/factures", req=req, flash=f"{len(receipts)} factures reçues."
        )

    def refuse(self, req, resp, ex: DomainError, **context) -> None:
        statuses = {TooLarge: falcon.HTTP_413, UnsupportedFormat: falcon.HTTP_415}
        resp.status = statuses.get(type(ex), falcon.HTTP_422)
        self.show(req, resp, refusal=[f.as_dict() for f in ex.findings], **context)

    def read_form(self, req: falcon.Request) -> tuple[dict[str, str], tuple[str, bytes] | None]:
        """The text fields and the file (name, bytes) of the multipart form, read within
        the body limit."""
        if not (req.content_type or "").lower().startswith("multipart/form-data"):
            raise UnsupportedFormat.of(
                "format.unsupported", "Envoyez le formulaire de la page.", field="fichier"
            )
        body = read_body(req, self.max_body)
        fields: dict[str, str] = {}
        upload = None
        for part in self.form.deserialize(io.BytesIO(body), req.content_type, len(body)):
            if part.name == "fichier":
                content = part.get_data()
                if content:
                    upload = (part.secure_filename if part.filename else "", content)
            else:
                fields[part.name] = part.get_text() or ""
        return fields, upload


def routes(site: Site) -> list[tuple[str, object]]:
    return [
        ("/app/a-traiter", ToDoPage(site)),
        ("/app/factures", InvoicesPage(site)),
        ("/app/deposer", DepositPage(site)),
    ]
