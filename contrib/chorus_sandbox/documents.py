"""What a deposited flux holds: unpack it, find each invoice's XML, read the fields Chorus uses."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import facturx
from lxml import etree

# Interface codes and the document each `syntaxeFlux` carries.
SYNTAXES = {
    "IN_DP_E1_UBL_INVOICE": ("FSO1100A", "ubl"),
    "IN_DP_E1_CII_16B": ("FSO1106A", "cii"),
    "IN_DP_E2_CII_FACTURX": ("FSO1117A", "facturx"),
}
MAX_DOCUMENTS = 500  # the EDI annex's limit for one E1 flux
MAX_UNPACKED_BYTES = 200 * 1024 * 1024

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CII_ROOT = f"{{{NS['rsm']}}}CrossIndustryInvoice"
UBL_ROOTS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote",
}
CREDIT_NOTE_CODES = {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}


class DocumentError(Exception):
    """A flux or one of its documents cannot be read; the message is the platform's wording."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Document:
    name: str
    data: bytes


def unpack(content: bytes, name: str) -> list[Document]:
    """Split a deposited file into its documents: a tar(.gz) or zip archive, or one file."""
    if content.startswith(b"PK\x03\x04"):
        return _unzip(content)
    if content.startswith(b"\x1f\x8b") or content[257:262] == b"ustar":
        return _untar(content)
    return [Document(name, content)]


def _checked(documents: list[Document]) -> list[Document]:
    if not documents:
        raise DocumentError("L'archive ne contient aucun fichier.")
    if len(documents) > MAX_DOCUMENTS:
        raise DocumentError(f"L'archive contient plus de {MAX_DOCUMENTS} factures.")
    return documents


def _skipped(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.startswith(".") or name.startswith("__MACOSX/")


def _unzip(content: bytes) -> list[Document]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        infos = [i for i in archive.infolist() if not i.is_dir() and not _skipped(i.filename)]
        if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
            raise DocumentError("L'archive décompressée dépasse la taille autorisée.")
        return _checked([Document(i.filename, archive.read(i)) for i in infos])
    except (zipfile.BadZipFile, OSError, EOFError) as ex:
        raise DocumentError(f"L'archive zip est illisible : {ex}") from ex


def _untar(content: bytes) -> list[Document]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(content), mode="r:*")
        members = [m for m in archive.getmembers() if m.isfile() and not _skipped(m.name)]
        if sum(m.size for m in members) > MAX_UNPACKED_BYTES:
            raise DocumentError("L'archive décompressée dépasse la taille autorisée.")
        return _checked([Document(m.name, archive.extractfile(m).read()) for m in members])
    except (tarfile.TarError, OSError, EOFError) as ex:
        raise DocumentError(f"L'archive tar est illisible : {ex}") from ex


def invoice_xml(document: Document, kind: str) -> bytes:
    """Return the invoice XML of a document: itself, or the XML a Factur-X PDF embeds."""
    is_pdf = document.data.lstrip()[:5] == b"%PDF-"
    if kind != "facturx":
        if is_pdf:
            raise DocumentError("Un PDF a été déposé avec une syntaxe de flux XML.")
        return document.data
    if not is_pdf:
        raise DocumentError("La syntaxe IN_DP_E2_CII_FACTURX attend un PDF Factur-X.")
    try:
        _filename, xml = facturx.get_xml_from_pdf(document.data, check_xsd=False)
    except Exception as ex:  # pypdf raises many types on damaged files
        raise DocumentError(f"Le PDF est illisible : {ex}") from ex
    if not xml:
        raise DocumentError("Le PDF ne contient pas de XML Factur-X (factur-x.xml).")
    return xml


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML: no entities, no network, no DTD, no DOCTYPE at all."""
    if re.search(rb"<!DOCTYPE", data[:4096], re.IGNORECASE):
        raise DocumentError("Les déclarations DOCTYPE sont interdites.")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as ex:
        line, column = ex.position
        raise DocumentError(f"XML mal formé : {ex.msg}", line, column) from ex
    if root.getroottree().docinfo.doctype:
        raise DocumentError("Les déclarations DOCTYPE sont interdites.")
    return root


def syntax_of(root: etree._Element) -> str | None:
    if root.tag == CII_ROOT:
        return "cii"
    if root.tag in UBL_ROOTS:
        return "ubl"
    return None


@dataclass(frozen=True)
class Identifier:
    value: str
    scheme: str | None


@dataclass(frozen=True)
class InvoiceFacts:
    """The fields of one invoice that the platform reads (EN 16931 business terms)."""

    syntax: str
    number: str | None  # BT-1
    type_code: str | None  # BT-3
    issue_date: str | None  # BT-2, AAAA-MM-JJ
    due_date: str | None  # BT-9
    framework: str | None  # BT-23 (cadre de facturation)
    currency: str | None  # BT-5
    service_code: str | None  # BT-10
    engagement: str | None  # BT-13
    contract: str | None  # BT-12
    preceding_number: str | None  # BT-25
    seller_name: str | None
    seller_global: tuple[Identifier, ...]  # BT-29
    seller_legal: tuple[Identifier, ...]  # BT-30
    buyer_name: str | None
    buyer_global: tuple[Identifier, ...]  # BT-46
    buyer_legal: tuple[Identifier, ...]  # BT-47
    payment_means: str | None  # BT-81
    total_without_vat: Decimal | None  # BT-109
    total_vat: Decimal | None  # BT-110
    total_with_vat: Decimal | None  # BT-112
    amount_due: Decimal | None  # BT-115

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in CREDIT_NOTE_CODES

    @property
    def seller_siret(self) -> str | None:
        return _siret(self.seller_legal, self.seller_global)

    @property
    def buyer_siret(self) -> str | None:
        return _siret(self.buyer_legal, self.buyer_global)


_SIRET_SCHEMES = {None, "0009", "0002"}


def _siret(legal: tuple[Identifier, ...], global_: tuple[Identifier, ...]) -> str | None:
    """Pick the SIRET: the legal id (BT-47/BT-30) first, else the global id (BT-46/BT-29).

    Schemes 0009 (SIRET) and 0002 (SIREN; the Factur-X notes use it for a SIRET too) are read;
    a 9-digit SIREN in the legal id falls through to the 14-digit SIRET of the global id.
    """
    for identifier in (*legal, *global_):
        value = identifier.value.replace(" ", "")
        if identifier.scheme in _SIRET_SCHEMES and len(value) == 14 and value.isdigit():
            return value
    return None


def _text(root: etree._Element, path: str, **variables: str) -> str | None:
    found = root.xpath(path, namespaces=NS, **variables)
    if not found:
        return None
    value = found[0] if isinstance(found[0], str) else found[0].text
    value = (value or "").strip()
    return value or None


def _ids(root: etree._Element, path: str) -> tuple[Identifier, ...]:
    return tuple(
        Identifier(node.text.strip(), node.get("schemeID"))
        for node in root.xpath(path, namespaces=NS)
        if node.text and node.text.strip()
    )


def _amount(root: etree._Element, path: str, **variables: str) -> Decimal | None:
    value = _text(root, path, **variables)
    try:
        return Decimal(value) if value is not None else None
    except InvalidOperation:
        return None


def _cii_date(value: str | None) -> str | None:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def read_facts(root: etree._Element) -> InvoiceFacts:
    """Read the Chorus-relevant business terms of a CII or UBL invoice."""
    if syntax_of(root) == "cii":
        return _read_cii(root)
    return _read_ubl(root)


def _read_cii(root: etree._Element) -> InvoiceFacts:
    doc = "rsm:ExchangedDocument/"
    agreement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/"
    settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
    totals = settlement + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
    currency = _text(root, settlement + "ram:InvoiceCurrencyCode")
    seller = agreement + "ram:SellerTradeParty/"
    buyer = agreement + "ram:BuyerTradeParty/"
    return InvoiceFacts(
        syntax="cii",
        number=_text(root, doc + "ram:ID"),
        type_code=_text(root, doc + "ram:TypeCode"),
        issue_date=_cii_date(_text(root, doc + "ram:IssueDateTime/udt:DateTimeString")),
        due_date=_cii_date(
            _text(
                root,
                settlement + "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/"
                "udt:DateTimeString",
            )
        ),
        framework=_text(
            root,
            "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/"
            "ram:ID",
        ),
        currency=currency,
        service_code=_text(root, agreement + "ram:BuyerReference"),
        engagement=_text(root, agreement + "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        contract=_text(root, agreement + "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
        preceding_number=_text(
            root, settlement + "ram:InvoiceReferencedDocument/ram:IssuerAssignedID"
        ),
        seller_name=_text(root, seller + "ram:Name"),
        seller_global=_ids(root, seller + "ram:GlobalID") + _ids(root, seller + "ram:ID"),
        seller_legal=_ids(root, seller + "ram:SpecifiedLegalOrganization/ram:ID"),
        buyer_name=_text(root, buyer + "ram:Name"),
        buyer_global=_ids(root, buyer + "ram:GlobalID") + _ids(root, buyer + "ram:ID"),
        buyer_legal=_ids(root, buyer + "ram:SpecifiedLegalOrganization/ram:ID"),
        payment_means=_text(
            root, settlement + "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode"
        ),
        total_without_vat=_amount(root, totals + "ram:TaxBasisTotalAmount"),
        total_vat=_amount(
            root,
            totals + "ram:TaxTotalAmount[@currencyID = $currency or not(@currencyID)]",
            currency=currency or "",
        ),
        total_with_vat=_amount(root, totals + "ram:GrandTotalAmount"),
        amount_due=_amount(root, totals + "ram:DuePayableAmount"),
    )


def _read_ubl(root: etree._Element) -> InvoiceFacts:
    currency = _text(root, "cbc:DocumentCurrencyCode")
    seller = "cac:AccountingSupplierParty/cac:Party/"
    buyer = "cac:AccountingCustomerParty/cac:Party/"
    totals = "cac:LegalMonetaryTotal/"
    return InvoiceFacts(
        syntax="ubl",
        number=_text(root, "cbc:ID"),
        type_code=_text(root, "cbc:InvoiceTypeCode | cbc:CreditNoteTypeCode"),
        issue_date=_text(root, "cbc:IssueDate"),
        due_date=_text(root, "cbc:DueDate | cac:PaymentMeans/cbc:PaymentDueDate"),
        framework=_text(root, "cbc:ProfileID"),
        currency=currency,
        service_code=_text(root, "cbc:BuyerReference"),
        engagement=_text(root, "cac:OrderReference/cbc:ID"),
        contract=_text(root, "cac:ContractDocumentReference/cbc:ID"),
        preceding_number=_text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
        seller_name=_text(
            root,
            seller
            + "cac:PartyLegalEntity/cbc:RegistrationName | "
            + seller
            + "cac:PartyName/cbc:Name",
        ),
        seller_global=_ids(root, seller + "cac:PartyIdentification/cbc:ID"),
        seller_legal=_ids(root, seller + "cac:PartyLegalEntity/cbc:CompanyID"),
        buyer_name=_text(
            root,
            buyer
            + "cac:PartyLegalEntity/cbc:RegistrationName | "
            + buyer
            + "cac:PartyName/cbc:Name",
        ),
        buyer_global=_ids(root, buyer + "cac:PartyIdentification/cbc:ID"),
        buyer_legal=_ids(root, buyer + "cac:PartyLegalEntity/cbc:CompanyID"),
        payment_means=_text(root, "cac:PaymentMeans/cbc:PaymentMeansCode"),
        total_without_vat=_amount(root, totals + "cbc:TaxExclusiveAmount"),
        total_vat=_amount(
            root, "cac:TaxTotal/cbc:TaxAmount[@currencyID = $currency]", currency=currency or ""
        ),
        total_with_vat=_amount(root, totals + "cbc:TaxInclusiveAmount"),
        amount_due=_amount(root, totals + "cbc:PayableAmount"),
    )


def facts_of(document: Document, kind: str) -> InvoiceFacts:
    """Unwrap, parse and read one document (no validation): used for counters and OCR."""
    root = parse_xml(invoice_xml(document, kind))
    if syntax_of(root) is None:
        raise DocumentError("Le document n'est pas une facture UBL ou CII.")
    return read_facts(root)
