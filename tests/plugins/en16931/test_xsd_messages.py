"""The XSD validator's English messages reach the bookseller in French."""

from __future__ import annotations

import pytest

from plugins.en16931.rules import validate_document
from tests.plugins.en16931.test_rules import samples

#: Each fault, made on a UBL rendering, and what the French message must say.
FAULTS = {
    "a date that is no date": (
        (b"2026-11-20", b"2026-13-45"),
        "la valeur « 2026-13-45 » de cbc:IssueDate n'est pas une valeur permise",
    ),
    "an element out of place": (
        (b"</cbc:DocumentCurrencyCode>", b"</cbc:DocumentCurrencyCode><cbc:Note>x</cbc:Note>"),
        "l'élément cbc:Note n'est pas à sa place ; le schéma attend ici",
    ),
    "an amount without its currency": (
        (b'<cbc:PayableAmount currencyID="EUR">', b"<cbc:PayableAmount>"),
        "l'attribut currencyID est obligatoire sur l'élément cbc:PayableAmount.",
    ),
    "an attribute no schema has": (
        (b"<cbc:IssueDate>", b'<cbc:IssueDate format="102">'),
        "l'attribut format n'est pas permis sur l'élément cbc:IssueDate.",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_an_xsd_error_is_said_in_french(fault):
    (old, new), said = FAULTS[fault]
    document = samples.render(samples.invoice_data(), "UBL")
    assert old in document
    findings = [f for f in validate_document(document.replace(old, new, 1)) if f.rule == "XSD"]
    assert findings, "the schema accepted the fault"
    message = findings[0].message
    assert message.startswith("Le document UBL ne respecte pas le schéma XSD (ligne ")
    assert said in message
    assert "Element '" not in message and "{urn:" not in message
