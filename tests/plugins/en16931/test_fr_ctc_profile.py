"""The French 2026 profiles pass the BR-FR rules the gateway ships, and still EN 16931's.

Every canonical example, rendered in ``fr-2026`` and ``fr-2026-extended`` as CII, UBL and
Factur-X, is judged by the FNFE "Flux 2" stylesheets (``fr-ctc``) and by the EN 16931 rules
of its level (EN 16931, or EXTENDED-CTC-FR); the legal mentions come from the member's
settings; the ``chorus`` profile does not change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.mentions import DEFAULTS, Mentions
from gateway.schemas import load_invoice
from plugins.en16931.mapping import render_xml
from plugins.en16931.renderers import CiiRenderer, FacturxRenderer, UblRenderer
from plugins.en16931.rules import NS, _xml_from_pdf, validate_document
from tests.conftest import EXAMPLES, ROOT, Gateway, make_config

SHARED = Path("/work/shared/examples")
INVOICES = sorted(EXAMPLES.glob("*.json")) + sorted(SHARED.glob("*.json"))
RENDERERS = {"cii": CiiRenderer(), "ubl": UblRenderer(), "facturx": FacturxRenderer()}
FRENCH = ("fr-2026", "fr-2026-extended")
#: A member whose mentions all differ from the defaults.
OWN = Mentions(
    recovery_fee="Indemnité de recouvrement : 40 € (art. L441-10 du Code de commerce).",
    late_penalties="Pénalités : trois fois le taux d'intérêt légal.",
    discount="Escompte de 1 % pour paiement sous 8 jours.",
    credit_note_terms="Avoir remboursé par virement sous 15 jours.",
    vat_on_debits=True,
)
BT_24 = {
    "fr-2026": "urn:cen.eu:en16931:2017",
    "fr-2026-extended": "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr",
}


def invoice(path: Path = EXAMPLES / "invoice-aube.json"):
    return load_invoice(json.loads(path.read_text()))


def xml_of(document: bytes) -> etree._Element:
    return etree.fromstring(_xml_from_pdf(document) if document[:5] == b"%PDF-" else document)


def notes(root: etree._Element) -> dict[str, str]:
    """Coded notes (BT-21 → BT-22) of a CII or UBL document (UBL writes ``#CODE#text``)."""
    found = {}
    for note in root.iterfind("rsm:ExchangedDocument/ram:IncludedNote", NS):
        found[note.findtext("ram:SubjectCode", namespaces=NS)] = note.findtext(
            "ram:Content", namespaces=NS
        )
    for note in root.iterfind("cbc:Note", NS):
        if note.text.startswith("#"):
            _, code, text = note.text.split("#", 2)
            found[code] = text
    return found


def business_process(root: etree._Element) -> str:
    return root.findtext(
        "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID",
        namespaces=NS,
    ) or root.findtext("cbc:ProfileID", namespaces=NS)


def findings(document: bytes) -> tuple[list[str], list[str]]:
    """The BR-FR findings (errors and warnings), and the EN 16931 errors, of a document."""
    french = validate_document(document, en16931=False, fr_ctc=True)
    en16931 = validate_document(document)
    return (
        [f"{f.code}: {f.message}" for f in french],
        [f"{f.code}: {f.message}" for f in en16931 if f.is_error],
    )


@pytest.mark.parametrize("mentions", [None, OWN], ids=["defaults", "own-mentions"])
@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("profile", FRENCH)
@pytest.mark.parametrize("path", INVOICES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_every_example_passes_the_french_and_the_en16931_rules(path, profile, renderer, mentions):
    document = RENDERERS[renderer].render(invoice(path), profile=profile, mentions=mentions)
    french, en16931 = findings(document)
    assert french == []
    assert en16931 == []
    root = xml_of(document)
    assert BT_24[profile] in etree.tostring(root).decode()
    assert notes(root).items() >= (mentions or DEFAULTS).coded_notes.items()


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_the_mentions_written_are_the_members(syntax):
    root = etree.fromstring(render_xml(invoice(), syntax=syntax, profile="fr-2026", mentions=OWN))
    assert notes(root) == {
        "PMT": OWN.recovery_fee,
        "PMD": OWN.late_penalties,
        "AAB": OWN.discount,
    }
    default = etree.fromstring(render_xml(invoice(), syntax=syntax, profile="fr-2026"))
    assert notes(default)["AAB"] == "Pas d'escompte pour paiement anticipé."


def test_vat_on_debits_is_the_invoice_date_tax_point():
    """BT-8: UNTDID 2475 code 5 in CII, 2005 code 3 in UBL (the invoice's date)."""
    cii = etree.fromstring(render_xml(invoice(), syntax="cii", profile="fr-2026", mentions=OWN))
    ubl = etree.fromstring(render_xml(invoice(), syntax="ubl", profile="fr-2026", mentions=OWN))
    assert cii.findtext(".//ram:ApplicableTradeTax/ram:DueDateTypeCode", namespaces=NS) == "5"
    assert ubl.findtext("cac:InvoicePeriod/cbc:DescriptionCode", namespaces=NS) == "3"
    plain = render_xml(invoice(), syntax="cii", profile="fr-2026")
    assert b"DueDateTypeCode" not in plain
    pdf = FacturxRenderer().render(invoice(), profile="fr-2026", mentions=OWN)
    assert findings(pdf) == ([], [])


def with_units(*units: str):
    inv = invoice()
    pairs = zip(inv.lines, units, strict=True)
    lines = [dataclasses.replace(line, unit_code=unit) for line, unit in pairs]
    return dataclasses.replace(inv, lines=lines)


@pytest.mark.parametrize(
    ("inv", "mentions", "expected"),
    [
        (with_units("C62", "C62"), None, "B1"),  # books are goods
        (with_units("HUR", "DAY"), None, "S1"),  # an author's talk billed by the hour
        (with_units("C62", "HUR"), None, "M1"),
        (with_units("C62", "C62"), Mentions(supply="mixed"), "M1"),  # the member's setting
        (
            dataclasses.replace(with_units("C62", "C62"), other_terms={"BT-23": "S1"}),
            Mentions(supply="mixed"),
            "S1",  # the invoice's own code stands
        ),
    ],
    ids=["goods", "services", "mixed", "member-setting", "invoice-code"],
)
@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_the_billing_framework_says_what_is_sold(inv, mentions, expected, syntax):
    document = render_xml(inv, syntax=syntax, profile="fr-2026", mentions=mentions)
    assert business_process(etree.fromstring(document)) == expected
    assert findings(document) == ([], [])


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_an_invoice_already_paid_is_framework_2(syntax):
    inv = invoice()
    paid = dataclasses.replace(inv, prepaid_amount=inv.computed_totals().tax_inclusive)
    document = render_xml(paid, syntax=syntax, profile="fr-2026")
    assert business_process(etree.fromstring(document)) == "B2"
    assert findings(document) == ([], [])
    # Without a due date (the date of payment, BR-FR-CO-09), it stays an invoice to pay.
    undated = dataclasses.replace(paid, due_date=None, payment=None)
    document = render_xml(undated, syntax=syntax, profile="fr-2026")
    assert business_process(etree.fromstring(document)) == "B1"


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_the_chorus_profile_ignores_the_french_mentions(syntax):
    inv = invoice()
    plain = render_xml(inv, syntax=syntax, profile="chorus")
    assert render_xml(inv, syntax=syntax, profile="chorus", mentions=OWN) == plain
    root = etree.fromstring(plain)
    assert business_process(root) == "A1"
    assert notes(root) == {}
    assert b"DueDateTypeCode" not in plain and b"DescriptionCode" not in plain


def test_a_credit_note_without_terms_gets_the_members_credit_note_terms():
    credit_note = invoice(EXAMPLES / "credit-note-seine-maritime.json")
    assert credit_note.payment is None and credit_note.due_date is None
    document = render_xml(credit_note, syntax="cii", profile="fr-2026-extended", mentions=OWN)
    terms = etree.fromstring(document).findtext(
        ".//ram:SpecifiedTradePaymentTerms/ram:Description", namespaces=NS
    )
    assert terms == OWN.credit_note_terms


# --- through the gateway: the member's settings ------------------------------------------


@pytest.fixture
def french_gateway(tmp_path, sqlite_url):
    """The gateway whose outlet takes a CII in ``fr-2026`` (as a PA outlet asks it)."""
    config = make_config(tmp_path, sqlite_url)
    config.plugins["memory"] = {**config.plugins["memory"], "document": "cii"}
    config.plugins["memory"]["profile"] = "fr-2026-extended"
    instance = Gateway(config)
    yield instance
    instance.store.dispose()


def test_the_document_accepted_carries_the_members_mentions(french_gateway):
    own = {
        "discount": OWN.discount,
        "late_penalties": OWN.late_penalties,
        "vat_on_debits": True,
        "supply": "mixed",
    }
    created = french_gateway.client.simulate_post(
        "/v1/members",
        json={"name": "Librairie du Port", "siret": "81234567600017"}
        | {"settings": {"mentions": own}},
        headers=french_gateway.admin(),
    )
    assert created.status_code == 201, created.json
    other = french_gateway.new_member("Librairie des Halles", "73282932000074")
    pipeline = french_gateway.services.pipeline
    mine = pipeline.prepare(created.json["id"], invoice())
    theirs = pipeline.prepare(other["id"], invoice())
    assert [f.code for f in mine.findings if f.is_error] == []
    root = xml_of(mine.document.content)
    assert notes(root) == {
        "PMT": DEFAULTS.recovery_fee,
        "PMD": OWN.late_penalties,
        "AAB": OWN.discount,
    }
    assert business_process(root) == "M1"
    assert root.findtext(".//ram:ApplicableTradeTax/ram:DueDateTypeCode", namespaces=NS) == "5"
    assert notes(xml_of(theirs.document.content)) == DEFAULTS.coded_notes
    assert business_process(xml_of(theirs.document.content)) == "B1"


@pytest.mark.parametrize(
    ("mentions", "field"),
    [
        ({"discount": ""}, "settings.mentions.discount"),
        ({"vat_on_debits": "oui"}, "settings.mentions.vat_on_debits"),
        ({"supply": "books"}, "settings.mentions.supply"),
        ({"escompte": "2 %"}, "settings.mentions.escompte"),
        ("sans escompte", "settings.mentions"),
    ],
)
def test_mentions_the_gateway_could_not_write_are_refused(gateway, member, mentions, field):
    result = gateway.client.simulate_patch(
        f"/v1/members/{member['id']}",
        json={"settings": {"mentions": mentions}},
        headers=member["headers"],
    )
    assert result.status_code == 422, result.json
    assert field in [error["field"] for error in result.json["errors"]]
    assert gateway.services.pipeline.member_settings(member["id"]).get("mentions") is None


def test_amounts_are_unchanged_by_the_french_profiles():
    inv = invoice()
    for profile in ("chorus", *FRENCH):
        root = etree.fromstring(render_xml(inv, syntax="cii", profile=profile))
        payable = root.findtext(".//ram:DuePayableAmount", namespaces=NS)
        assert Decimal(payable) == inv.computed_totals().payable


def test_convert_takes_every_profile(tmp_path):
    target = tmp_path / "aube.xml"
    env = {**os.environ, "GATEWAY_HOME": str(tmp_path), "GATEWAY_LOG_LEVEL": "WARNING"}

    def convert(profile: str) -> subprocess.CompletedProcess:
        command = ["convert", str(EXAMPLES / "invoice-aube.json"), "--to", "ubl", "-o"]
        return subprocess.run(
            [sys.executable, "-m", "gateway", *command, str(target), "--profile", profile],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
        )

    done = convert("fr-2026-extended")
    assert done.returncode == 0, done.stderr
    document = target.read_bytes()
    assert BT_24["fr-2026-extended"].encode() in document
    assert findings(document) == ([], [])
    refused = convert("fr-2027")
    assert refused.returncode == 2
    assert "fr-2026-extended" in refused.stderr.decode()
