"""The ``chorus`` rule set on directory entries built here, after the guide's examples."""

from __future__ import annotations

import pytest

from gateway.config import Config, ConfigError
from gateway.directory import DirectoryEntry, Service
from gateway.schemas import load_invoice
from plugins.chorus import ChorusPlugin
from plugins.chorus.rules import (
    UNKNOWN,
    chorus_findings,
    strip_forbidden_references,
)
from tests.conftest import example
from tests.invoices import SEINE_MARITIME_ENTRY as SEINE_MARITIME

AUBE = DirectoryEntry(
    siret="22100005200011",
    name="DEPARTEMENT DE L'AUBE",
    service_required=True,
    engagement_required=True,
    services=[
        Service("FACTURES_PUBLIQUES", "Service des factures publiques"),
        *(
            Service(code, name, engagement_required=True)
            for code, name in (
                ("SLANOAGENT", "Direction des routes SLA NOGENT"),
                ("DSDISTR1", "Direction du Social - Grande Distribution"),
                ("DPECDC", "Centre des Congrès de l'Aube"),
                ("CAB-COM", "Cabinet du Président Communication"),
                ("DSAFPA", "Direction du Social - Accueil Familial Personnes Agées"),
            )
        ),
        Service("DGAEC", "Service de la Musique", status="SUPPRIME", engagement_required=True),
        *(
            Service(code, name, engagement_required=True)
            for code, name in (
                ("SLATROYES", "Direction des routes SLA TROYES"),
                ("DSALLOCPAPH", "Direction du Social - Allocations PA/PH"),
                ("DSRSA", "Direction du Social - RSA - Insertion"),
                ("DFCG", "Direction Finances Conseil Gestion"),
            )
        ),
    ],
)
#: A town that requires a service, where only its library's service requires an engagement.
TOWN = DirectoryEntry(
    siret="21450123100184",
    name="COMMUNE DE SAINT-AUBIN-DES-ORMES",
    service_required=True,
    services=[
        Service("MEDIATHEQUE", "Médiathèque", engagement_required=True),
        Service("ECOLES", "Écoles"),
    ],
)
EITHER = DirectoryEntry(
    siret="20004123400010",
    name="COMMUNAUTE DE COMMUNES DU PAYS DES ORMES",
    service_or_engagement_required=True,
    services=[Service("CULTURE", "Culture")],
)
LIBRARY = DirectoryEntry(siret="25450102600028", name="MEDIATHEQUE INTERCOMMUNALE")
INACTIVE = DirectoryEntry(siret="21450877200016", name="COMMUNE DE VAL-DES-ORMES", status="INACTIF")
UNKNOWN_ENTRY = DirectoryEntry(siret="73282932000074", name="", status=UNKNOWN)


def invoice(name: str = "invoice-aube", **references):
    data = example(name)
    for key, value in references.items():
        if value is None:
            data["references"].pop(key, None)
        else:
            data["references"][key] = value
    return load_invoice(data)


def codes(findings) -> list[tuple[str, str, str]]:
    return sorted((f.code, f.field, f.severity) for f in findings)


def test_no_directory_entry_means_no_finding():
    assert chorus_findings(invoice(service_code=None, engagement=None), None) == []


def test_the_guides_examples_as_they_should_be_sent():
    assert chorus_findings(invoice("invoice-seine-maritime"), SEINE_MARITIME) == []
    assert chorus_findings(invoice(), AUBE) == []


def test_seine_maritime_requires_an_engagement_and_no_service():
    missing = chorus_findings(invoice("invoice-seine-maritime", engagement=None), SEINE_MARITIME)
    assert codes(missing) == [("engagement.required", "references.engagement", "error")]
    assert "DEPARTEMENT DE LA SEINE MARITIME" in missing[0].message
    extra = chorus_findings(
        invoice("invoice-seine-maritime", service_code="FACTURES_PUBLIQUES"), SEINE_MARITIME
    )
    assert codes(extra) == [("service.forbidden", "references.service_code", "error")]
    assert "Retirez le code « FACTURES_PUBLIQUES »" in extra[0].message


def test_aube_requires_an_active_existing_service_with_its_exact_code():
    missing = chorus_findings(invoice(service_code=None), AUBE)
    assert codes(missing) == [("service.required", "references.service_code", "error")]
    assert "DFCG" in missing[0].message and "DGAEC" not in missing[0].message
    deleted = chorus_findings(invoice(service_code="DGAEC"), AUBE)
    assert codes(deleted) == [("service.inactive", "references.service_code", "error")]
    assert "SUPPRIME" in deleted[0].message
    unknown = chorus_findings(invoice(service_code="NOPE"), AUBE)
    assert codes(unknown) == [("service.unknown", "references.service_code", "error")]
    wrong_case = chorus_findings(invoice(service_code="dfcg"), AUBE)
    assert codes(wrong_case) == [("service.unknown", "references.service_code", "error")]
    assert "Vouliez-vous dire « DFCG » ?" in wrong_case[0].message


def test_aube_requires_an_engagement_too():
    findings = chorus_findings(invoice(engagement=None), AUBE)
    assert codes(findings) == [("engagement.required", "references.engagement", "error")]


def test_public_invoices_service_is_a_warning_where_the_structure_has_others():
    findings = chorus_findings(invoice(service_code="FACTURES_PUBLIQUES"), AUBE)
    assert codes(findings) == [("service.reserved_public", "references.service_code", "warning")]
    assert "DFCG" in findings[0].message


def test_an_engagement_required_by_the_chosen_service_only():
    town = chorus_findings(invoice(service_code="MEDIATHEQUE", engagement=None), TOWN)
    assert codes(town) == [("engagement.required", "references.engagement", "error")]
    assert "service « MEDIATHEQUE »" in town[0].message
    assert chorus_findings(invoice(service_code="MEDIATHEQUE"), TOWN) == []
    schools = chorus_findings(invoice(service_code="ECOLES"), TOWN)
    assert codes(schools) == [("engagement.forbidden", "references.engagement", "error")]
    assert chorus_findings(invoice(service_code="ECOLES", engagement=None), TOWN) == []


def test_service_or_engagement_needs_at_least_one():
    neither = chorus_findings(invoice(service_code=None, engagement=None), EITHER)
    assert codes(neither) == [
        ("service_or_engagement.required", "references.service_code", "error")
    ]
    assert chorus_findings(invoice(service_code="CULTURE", engagement=None), EITHER) == []
    assert chorus_findings(invoice(service_code=None), EITHER) == []
    assert chorus_findings(invoice(service_code="CULTURE"), EITHER) == []


def test_a_structure_asking_for_nothing_refuses_both_references():
    findings = chorus_findings(invoice(), LIBRARY)
    assert codes(findings) == [
        ("engagement.forbidden", "references.engagement", "error"),
        ("service.forbidden", "references.service_code", "error"),
    ]
    assert chorus_findings(invoice(service_code=None, engagement=None), LIBRARY) == []


def test_an_inactive_structure_says_to_register_and_route_to_paper():
    findings = chorus_findings(invoice(service_code=None, engagement=None), INACTIVE)
    assert codes(findings) == [("directory.inactive", "buyer.siret", "error")]
    assert "s'inscrire sur Chorus Pro" in findings[0].message
    assert "papier" in findings[0].message
    assert "COMMUNE DE VAL-DES-ORMES" in findings[0].message


def test_an_unknown_siret():
    findings = chorus_findings(invoice(), UNKNOWN_ENTRY)
    assert codes(findings) == [("directory.unknown", "buyer.siret", "error")]
    assert "73282932000074" in findings[0].message


def test_strip_policy_warns_and_the_strip_function_removes_the_references():
    refused = invoice("invoice-seine-maritime", service_code="FACTURES_PUBLIQUES")
    warned = chorus_findings(refused, SEINE_MARITIME, policy="strip")
    assert codes(warned) == [("service.forbidden", "references.service_code", "warning")]
    stripped = strip_forbidden_references(refused, SEINE_MARITIME)
    assert codes(stripped) == codes(warned)
    assert "est retiré" in stripped[0].message
    assert refused.references.service_code is None
    assert refused.references.engagement == "EJ2026000815"
    assert chorus_findings(refused, SEINE_MARITIME) == []


def test_strip_removes_both_and_leaves_required_ones():
    both = invoice()
    assert len(strip_forbidden_references(both, LIBRARY)) == 2
    assert (both.references.service_code, both.references.engagement) == (None, None)
    aube = invoice()
    assert strip_forbidden_references(aube, AUBE) == []
    assert aube.references.service_code == "DFCG"
    assert strip_forbidden_references(invoice(), INACTIVE) == []
    assert strip_forbidden_references(invoice(), None) == []


@pytest.mark.parametrize("rule_sets", [frozenset({"fr"}), frozenset()])
def test_the_hook_answers_only_when_its_rule_set_is_asked_for(rule_sets):
    gateway_validate_invoice = ChorusPlugin().gateway_validate_invoice
    broken = invoice(service_code=None)
    assert gateway_validate_invoice(broken, AUBE, rule_sets, None) == []
    assert codes(gateway_validate_invoice(broken, AUBE, frozenset({"chorus"}), None)) == [
        ("service.required", "references.service_code", "error")
    ]


def configured(plugin: ChorusPlugin, policy: str | None) -> None:
    """Hand the plugin a configuration whose ``[plugins.chorus]`` names this policy."""
    config = Config(plugins={"chorus": {"forbidden_references": policy} if policy else {}})
    plugin.gateway_configure(config=config)


def test_the_policy_is_read_once_from_the_configuration_and_strip_enriches():
    plugin = ChorusPlugin()
    gateway_enrich_invoice = plugin.gateway_enrich_invoice
    gateway_validate_invoice = plugin.gateway_validate_invoice
    try:
        configured(plugin, "strip")
        refused = invoice("invoice-seine-maritime", service_code="FACTURES_PUBLIQUES")
        warned = gateway_enrich_invoice(refused, SEINE_MARITIME)
        assert codes(warned) == [("service.forbidden", "references.service_code", "warning")]
        assert refused.references.service_code is None
        assert gateway_validate_invoice(refused, SEINE_MARITIME, None, None) == []
        configured(plugin, "refuse")
        kept = invoice("invoice-seine-maritime", service_code="FACTURES_PUBLIQUES")
        assert gateway_enrich_invoice(kept, SEINE_MARITIME) == []
        assert kept.references.service_code == "FACTURES_PUBLIQUES"
        assert codes(gateway_validate_invoice(kept, SEINE_MARITIME, None, None)) == [
            ("service.forbidden", "references.service_code", "error")
        ]
    finally:
        configured(plugin, None)


def test_an_unknown_policy_is_a_configuration_error_and_refuse_stays():
    plugin = ChorusPlugin()
    gateway_enrich_invoice = plugin.gateway_enrich_invoice
    try:
        with pytest.raises(ConfigError, match="forbidden_references"):
            configured(plugin, "ignore")
        kept = invoice("invoice-seine-maritime", service_code="FACTURES_PUBLIQUES")
        assert gateway_enrich_invoice(kept, SEINE_MARITIME) == []
    finally:
        configured(plugin, None)
