"""The Directory Service over HTTP: SIREN, SIRET, routing codes and directory lines, got by id
and searched; answers checked against the annex's shapes."""

from __future__ import annotations

import pytest

from contrib.chorus_sandbox.seed import AUBE, SEINE_MARITIME
from contrib.pa_sandbox import seed
from tests.contrib.pa_sandbox.schemas import (
    DIRECTORY_LINE,
    ERROR,
    FACILITY,
    LEGAL_UNIT,
    ROUTING_CODE,
    conforms,
    search_response,
)

BASE = "/directory-service/v1"


@pytest.fixture
def directory(pa):
    def call(method: str, path: str, body: dict | None = None, **params):
        return pa.http.request(
            method, BASE + path, json=body, params=params or None, headers=pa.headers()
        )

    return call


def test_the_directory_needs_a_token_and_has_a_healthcheck(pa, directory):
    assert pa.http.get(BASE + "/healthcheck").status_code == 401
    assert directory("GET", "/healthcheck").status_code == 200


def test_a_legal_unit_by_siren(directory):
    response = directory("GET", f"/siren/code-insee:{seed.DEMO_BOOKSELLER[:9]}")
    assert response.status_code == 200
    unit = response.json()
    assert conforms(unit, LEGAL_UNIT)
    assert unit["entityType"] == "PrivateVatRegistered"
    public = directory("GET", f"/siren/code-insee:{AUBE[:9]}").json()
    assert public["entityType"] == "Public"
    missing = directory("GET", "/siren/code-insee:999999998")
    assert missing.status_code == 404
    assert conforms(missing.json(), ERROR)


def test_a_facility_by_siret_with_its_public_data(directory):
    seine = directory("GET", f"/siret/code-insee:{SEINE_MARITIME}").json()
    assert conforms(seine, FACILITY)
    assert seine["b2gAdditionalData"]["managesLegalCommitmentCode"] is True
    assert seine["b2gAdditionalData"]["serviceCodeStatus"] is False
    assert seine["legalUnit"]["siren"] == SEINE_MARITIME[:9]
    school = directory("GET", f"/siret/code-insee:{seed.PRIVATE_SCHOOL}", fields="siret,name")
    assert school.json() == {
        "siret": seed.PRIVATE_SCHOOL,
        "name": "ECOLE PRIVEE SAINTE-ANNE",
        "legalUnit": school.json()["legalUnit"],
    }


def test_search_siren_filters_pages_and_answers_the_annex_shape(directory):
    body = {"filters": {"entityType": {"op": "strict", "value": "Public"}}, "limit": 2}
    response = directory("POST", "/siren/search", body)
    assert response.status_code == 200
    answer = response.json()
    assert conforms(answer, search_response(LEGAL_UNIT))
    assert answer["search"] == body
    assert len(answer["results"]) == 2
    total = answer["totalNumberOfResults"]
    assert total > 2
    rest = directory("POST", "/siren/search", body | {"ignore": 2, "limit": 100}).json()
    assert len(rest["results"]) == total - 2
    named = directory(
        "POST", "/siren/search", {"filters": {"businessName": {"op": "contains", "value": "cse"}}}
    ).json()
    assert [u["siren"] for u in named["results"]] == [seed.WORKS_COUNCIL[:9]]


def test_search_refuses_unknown_filters_and_operators(directory):
    for body in (
        {"filters": {"colour": {"op": "strict", "value": "x"}}},
        {"filters": {"siren": {"op": "like", "value": "x"}}},
        {"filters": {"siren": "812345676"}},
        {"limit": 0},
        {"fields": ["colour"]},
        {"sorting": [{"field": "siren", "order": "up"}]},
    ):
        response = directory("POST", "/siren/search", body)
        assert response.status_code == 400, body
        assert conforms(response.json(), ERROR)


def test_search_siret_by_postal_code_with_the_legal_unit_included(directory):
    body = {
        "filters": {"postalCode": {"op": "startWith", "value": "76"}},
        "include": ["siren"],
        "sorting": [{"field": "siret", "order": "descending"}],
    }
    answer = directory("POST", "/siret/search", body).json()
    assert conforms(answer, search_response(FACILITY))
    sirets = [f["siret"] for f in answer["results"]]
    assert seed.DEMO_BOOKSELLER in sirets and SEINE_MARITIME in sirets
    assert sirets == sorted(sirets, reverse=True)
    assert all("legalUnit" in f for f in answer["results"])


def test_routing_codes_by_id_and_search(directory):
    path = f"/routing-code/siret:{seed.WITH_ROUTING_CODES}/code:CDI-LYCEE"
    code = directory("GET", path, include="siren,siret").json()
    assert conforms(code, ROUTING_CODE)
    assert code["managesLegalCommitmentCode"] is True
    assert code["facility"]["siret"] == seed.WITH_ROUTING_CODES
    assert (
        directory("GET", f"/routing-code/siret:{seed.WITH_ROUTING_CODES}/code:NONE").status_code
        == 404
    )
    body = {"filters": {"siret": {"op": "strict", "value": seed.WITH_ROUTING_CODES}}}
    answer = directory("POST", "/routing-code/search", body).json()
    assert conforms(answer, search_response(ROUTING_CODE))
    assert [c["routingIdentifier"] for c in answer["results"]] == ["CDI-COLLEGE", "CDI-LYCEE"]


def test_directory_lines_say_which_platform_receives(directory):
    private = directory("GET", f"/directory-line/code:{seed.OTHER_BOOKSHOP[:9]}").json()
    assert conforms(private, DIRECTORY_LINE)
    assert (private["platformType"], private["directoryLineStatus"]) == ("WK", "Enabled")
    public = directory("GET", f"/directory-line/code:{AUBE[:9]}", include="siren").json()
    assert conforms(public, DIRECTORY_LINE)
    assert public["platformType"] == "DFH"
    assert public["legalUnit"]["entityType"] == "Public"
    routed = f"{seed.WITH_ROUTING_CODES[:9]}_CDI-COLLEGE"
    line = directory("GET", f"/directory-line/code:{routed}", include="routingCode").json()
    assert conforms(line, DIRECTORY_LINE)
    assert (line["siret"], line["routingIdentifier"]) == (seed.WITH_ROUTING_CODES, "CDI-COLLEGE")
    assert line["routingCode"]["routingCodeName"] == "Centre de documentation du collège"
    assert directory("GET", "/directory-line/code:000000000").status_code == 404


def test_search_directory_lines_of_a_siren(directory):
    body = {"filters": {"siren": {"op": "strict", "value": seed.WITH_ROUTING_CODES[:9]}}}
    answer = directory("POST", "/directory-line/search", body).json()
    assert conforms(answer, search_response(DIRECTORY_LINE))
    assert sorted(line["addressingIdentifier"] for line in answer["results"]) == [
        "518024575",
        "518024575_CDI-COLLEGE",
        "518024575_CDI-LYCEE",
    ]


def test_a_closed_public_structure_has_a_disabled_line(directory):
    line = directory("GET", "/directory-line/code:214508772", include="siren").json()
    assert conforms(line, DIRECTORY_LINE)
    assert line["directoryLineStatus"] == "Disabled"
    assert line["legalUnit"]["administrativeStatus"] == "C"
