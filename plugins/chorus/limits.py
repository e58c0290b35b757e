"""What Chorus Pro takes at most: checked before anything is sent, each with its code.

The ``chorus`` rule set calls :func:`limit_findings` at acceptance and again before
sending; the outlet splits batches by the flux limits and the ``complete`` action calls
:func:`attachment_findings` before uploading. Each limit's source is in the table of
docs/outlets/chorus.md ("Limits").
"""

from __future__ import annotations

import re
from pathlib import PurePath

from gateway.plugin_api import Document, Finding, Invoice

RULE = "chorus"
#: Reference §3: ``numeroFacture`` varchar(20), letters, digits and ``- _ / +``.
NUMBER = re.compile(r"[A-Za-z0-9_/+\-]{1,20}")
#: Reference §3: ``numeroBonCommande`` varchar(50).
ENGAGEMENT_MAX = 50
#: Undocumented: the gateway's own bound, far above any code the directory lists.
SERVICE_CODE_MAX = 100
#: Reference §3 (OCA, after the Chorus Pro community page on attachments).
ATTACHMENT_NAME_MAX = 50
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
ATTACHMENT_EXTENSIONS = frozenset(
    "BMP GIF FAX ODT PPT TIFF XLS BZ2 GZ JPEG P7S RTF TXT XML CSV GZIP JPG PDF SVG XHTML XLSX "
    "DOC HTM ODP PNG TGZ XLC ZIP DOCX HTML ODS PPS TIF XLM PPTX".split()
)
#: One flux at most (reference §2.1: 10 MB a file, 500 invoices a flux): larger batches
#: are split, by the documents' own size (an archive only shrinks them).
FLUX_MAX_BYTES = 10 * 1024 * 1024
FLUX_MAX_INVOICES = 500


def _error(code: str, field: str, message: str) -> Finding:
    return Finding(code=code, field=field, message=message, rule=RULE)


def reference_findings(invoice: Invoice) -> list[Finding]:
    """The invoice number, engagement number and service code as the platform stores them."""
    findings = []
    if not NUMBER.fullmatch(invoice.number):
        findings.append(
            _error(
                "number.invalid",
                "number",
                f"Le numéro de facture « {invoice.number} » ne convient pas à Chorus Pro : au plus "
                "20 caractères, uniquement des lettres sans accent, des chiffres et - _ / +.",
            )
        )
    engagement = invoice.references.engagement
    if engagement and len(engagement) > ENGAGEMENT_MAX:
        findings.append(
            _error(
                "engagement.too_long",
                "references.engagement",
                f"Le numéro d'engagement juridique dépasse {ENGAGEMENT_MAX} caractères.",
            )
        )
    service_code = invoice.references.service_code
    if service_code and len(service_code) > SERVICE_CODE_MAX:
        findings.append(
            _error(
                "service.too_long",
                "references.service_code",
                f"Le code service dépasse {SERVICE_CODE_MAX} caractères : ce n'est pas un code "
                "de l'annuaire Chorus Pro. Reprenez celui du bon de commande.",
            )
        )
    return findings


def document_findings(document: Document | None) -> list[Finding]:
    """The document that will leave: a flux holds one file of at most 10 MB."""
    if document is None or len(document.content) <= FLUX_MAX_BYTES:
        return []
    size = len(document.content) / (1024 * 1024)
    return [
        _error(
            "invoice.too_large",
            "lines",
            f"La facture mise en forme pèse {size:.1f} Mo : Chorus Pro n'accepte pas un fichier "
            "de plus de 10 Mo. Répartissez ses lignes sur plusieurs factures.",
        )
    ]


def limit_findings(invoice: Invoice, document: Document | None) -> list[Finding]:
    """Every limit of the platform on one invoice and the document that will carry it."""
    return reference_findings(invoice) + document_findings(document)


def attachment_findings(attachments: list[Document]) -> list[Finding]:
    """Check attachments against Chorus Pro's rules before uploading anything."""
    findings = []
    for index, attachment in enumerate(attachments):
        extension = PurePath(attachment.name).suffix.lstrip(".").upper()
        problem = None
        if len(attachment.name) > ATTACHMENT_NAME_MAX:
            problem = f"son nom dépasse {ATTACHMENT_NAME_MAX} caractères (extension comprise)"
        elif extension not in ATTACHMENT_EXTENSIONS:
            problem = "son extension n'est pas acceptée par Chorus Pro (PDF, JPG, PNG, ODT…)"
        elif not attachment.content:
            problem = "le fichier est vide"
        elif len(attachment.content) >= ATTACHMENT_MAX_BYTES:
            problem = "le fichier atteint 10 Mo, la limite de Chorus Pro"
        if problem:
            findings.append(
                _error(
                    "attachment.invalid",
                    f"attachments[{index}]",
                    f"Pièce jointe « {attachment.name} » refusée : {problem}.",
                )
            )
    return findings
