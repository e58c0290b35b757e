"""The zeep client (``SoapTransport``) against the Dilifac sandbox over HTTP, and the
sandbox's own refusals of what a careless or hostile client sends."""

from __future__ import annotations

import hashlib
import secrets

import httpx
import pytest
from lxml import etree

from gateway.outbound import outbound_client
from gateway.outlets import TransientOutletError, UnavailableOutletError, UncertainOutletError
from plugins.dilifac.transport import WSDL, DepositRequest, DilifacFault, SoapTransport
from tests.conftest import ROOT
from tests.plugins.dilifac.sandbox import DilifacSandbox, dilifac  # noqa: F401 (fixture)

SIRET = "81234567600017"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"


def cii(number: str) -> bytes:
    """The smallest CII the sandbox's controls read: its root and its number."""
    return (
        f'<rsm:CrossIndustryInvoice xmlns:rsm="{CII}" xmlns:ram="{RAM}">'
        f"<rsm:ExchangedDocument><ram:ID>{number}</ram:ID></rsm:ExchangedDocument>"
        "</rsm:CrossIndustryInvoice>"
    ).encode()


def request(number: str | None = None, **changes) -> DepositRequest:
    number = number or "TR-" + secrets.token_hex(4).upper()
    fields = {
        "siret": SIRET,
        "number": number,
        "syntax": "CII",
        "file_name": f"{number}.xml",
        "content": cii(number),
        "client_reference": "ref-" + number,
        **changes,
    }
    return DepositRequest(**fields)


@pytest.fixture
def transport(dilifac):  # noqa: F811
    http = outbound_client(5.0)
    yield SoapTransport(
        dilifac.url, dilifac.credentials["login"], dilifac.credentials["password"], http
    )
    http.close()


def test_the_two_copies_of_the_wsdl_are_identical():
    served = ROOT / "contrib" / "dilifac_sandbox" / "dilifac.wsdl"
    assert WSDL.read_bytes() == served.read_bytes()


def test_the_sandbox_serves_its_wsdl_with_its_own_address(dilifac):  # noqa: F811
    answer = httpx.get(dilifac.url, params={"wsdl": ""})
    assert answer.status_code == 200
    address = etree.fromstring(answer.content).find(".//{*}address").get("location")
    assert address == dilifac.url


def test_a_deposit_is_received_archived_and_found_again(transport, dilifac):  # noqa: F811
    sent = request()
    deposit = transport.deposit(sent)
    assert deposit.status == "RECUE" and not deposit.already_received
    assert (deposit.siret, deposit.number) == (SIRET, sent.number)
    assert deposit.sha256 == hashlib.sha256(sent.content).hexdigest()
    assert [step.status for step in deposit.history] == ["RECUE"]

    receipt = transport.archive_receipt(deposit.deposit_id)
    assert receipt.sha256 == deposit.sha256 and receipt.retention == "P10Y"
    document = etree.fromstring(receipt.document)
    assert document.findtext("{*}empreinte") == deposit.sha256

    found = transport.find_deposit(SIRET, sent.number)
    assert found.deposit_id == deposit.deposit_id and found.client_reference == "ref-" + sent.number
    assert transport.find_deposit(SIRET, "JAMAIS-DEPOSEE") is None

    again = transport.deposit(sent)  # same client reference: the first deposit, not another
    assert again.already_received and again.deposit_id == deposit.deposit_id
    assert len(dilifac.deposits(sent.number)) == 1


def test_statuses_carry_the_whole_history_with_the_chorus_flux(transport, dilifac):  # noqa: F811
    deposit = transport.deposit(request())
    for _ in range(3):
        dilifac.move(deposit.deposit_id)
    (followed,) = transport.statuses([deposit.deposit_id])
    statuses = [step.status for step in followed.history]
    assert statuses == ["RECUE", "TRANSMISE_CHORUS", "DEPOSEE", "MISE_A_DISPOSITION"]
    assert followed.flux and followed.flux.startswith("CPP")
    assert followed.history[1].flux == followed.flux
    assert followed.history[0].at <= followed.history[-1].at

    since = transport.statuses(since=followed.history[-1].at)
    assert deposit.deposit_id in {item.deposit_id for item in since}


def test_a_file_failing_dilifac_controls_is_refused_with_a_reason(transport, dilifac):  # noqa: F811
    deposit = transport.deposit(request(content=cii("UN-AUTRE-NUMERO")))
    dilifac.move(deposit.deposit_id)
    (followed,) = transport.statuses([deposit.deposit_id])
    refused = followed.history[-1]
    assert refused.status == "REFUSEE" and refused.reason_code == "NUMERO"
    assert "UN-AUTRE-NUMERO" in refused.reason


def test_refusals_are_faults_with_stable_codes(transport, dilifac):  # noqa: F811
    bad = SoapTransport(dilifac.url, dilifac.credentials["login"], "faux", outbound_client(5.0))
    with pytest.raises(DilifacFault) as refused:
        bad.check_access()
    assert refused.value.code == "AUTHENTIFICATION" and not refused.value.transient

    with pytest.raises(DilifacFault) as other:
        transport.deposit(request(siret="79345612000013"))  # the other demo bookseller's
    assert other.value.code == "SIRET_NON_AUTORISE"

    first = transport.deposit(request())
    with pytest.raises(DilifacFault) as twice:
        transport.deposit(request(first.number, client_reference="autre-reference"))
    assert twice.value.code == "FACTURE_EN_DOUBLE"

    with pytest.raises(DilifacFault) as unknown:
        transport.archive_receipt("DLF-INCONNU")
    assert unknown.value.code == "DEPOT_INCONNU"


def test_check_access_names_the_subscriber(transport):
    subscriber = transport.check_access()
    assert subscriber.name == "Librairie des Quais" and subscriber.sirets == (SIRET,)
    assert subscriber.subscription_end is not None


def test_failures_say_whether_the_deposit_may_have_happened(transport, dilifac):  # noqa: F811
    dilifac.faults("unavailable")
    try:
        with pytest.raises(UnavailableOutletError):
            transport.deposit(request())
    finally:
        dilifac.clear_faults()

    quick = SoapTransport(
        dilifac.url, dilifac.credentials["login"], dilifac.credentials["password"],
        outbound_client(0.5),
    )  # fmt: skip
    sent = request()
    dilifac.faults("lost", 1.5, ("DeposerFacture",))
    try:
        with pytest.raises(UncertainOutletError):
            quick.deposit(sent)
    finally:
        dilifac.clear_faults()
    assert len(dilifac.deposits(sent.number)) == 1  # it was taken, the answer lost

    dilifac.faults("slow", 1.5, ("ConsulterStatuts",))
    try:
        with pytest.raises(TransientOutletError) as late:
            quick.statuses(["DLF-X"])
        assert not isinstance(late.value, UncertainOutletError)  # a read changes nothing
    finally:
        dilifac.clear_faults()


def envelope(body: str, login: str = "x", password: str = "y") -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:w="{WSSE}" '
        'xmlns:d="urn:facture-gateway:dilifac:v1"><s:Header><w:Security><w:UsernameToken>'
        f"<w:Username>{login}</w:Username><w:Password>{password}</w:Password>"
        f"</w:UsernameToken></w:Security></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


@pytest.mark.parametrize(
    "body,code",
    [
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
         "REQUETE_INVALIDE"),
        (b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><l>&b;</l>',
         "REQUETE_INVALIDE"),
        (b"<not-closed", "REQUETE_INVALIDE"),
        (b"<html/>", "REQUETE_INVALIDE"),
        (envelope("<d:TesterConnexion/>"), "AUTHENTIFICATION"),
        (envelope("<d:Inventee/>"), "OPERATION_INCONNUE"),
    ],
)  # fmt: skip
def test_hostile_or_malformed_requests_get_soap_faults(dilifac, body, code):  # noqa: F811
    answer = httpx.post(dilifac.url, content=body, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 500
    fault = etree.fromstring(answer.content)
    assert fault.findtext(".//faultcode") == "soap:Client"
    assert fault.findtext(".//{urn:facture-gateway:dilifac:v1}code") == code
    assert "Traceback" not in answer.text


def test_an_over_size_request_gets_a_fault_unread(dilifac):  # noqa: F811
    huge = b"<x>" + b"a" * (15 * 1024 * 1024) + b"</x>"
    answer = httpx.post(dilifac.url, content=huge, timeout=30)
    assert answer.status_code == 500
    assert b"TROP_VOLUMINEUX" in answer.content


def test_a_deposit_of_an_invalid_base64_file_is_a_fault(dilifac):  # noqa: F811
    login, password = dilifac.credentials["login"], dilifac.credentials["password"]
    body = (
        "<d:DeposerFacture><d:siretFournisseur>81234567600017</d:siretFournisseur>"
        "<d:numeroFacture>B64-1</d:numeroFacture><d:syntaxe>CII</d:syntaxe>"
        "<d:nomFichier>f.xml</d:nomFichier><d:fichier>%%%</d:fichier>"
        "<d:referenceClient>r</d:referenceClient></d:DeposerFacture>"
    )
    answer = httpx.post(dilifac.url, content=envelope(body, login, password))
    assert answer.status_code == 500 and b"REQUETE_INVALIDE" in answer.content
    assert not dilifac.deposits("B64-1")


def test_left_alone_a_deposit_moves_on_by_itself_at_the_sandbox_pace(tmp_path):
    paced = DilifacSandbox(tmp_path, "--pace", "60")
    http = outbound_client(5.0)
    try:
        login, password = paced.credentials["login"], paced.credentials["password"]
        transport = SoapTransport(paced.url, login, password, http)
        deposit = transport.deposit(request())
        paced.control.post("/clock", json={"advance": 130}).raise_for_status()
        (followed,) = transport.statuses([deposit.deposit_id])
        assert [step.status for step in followed.history] == [
            "RECUE",
            "TRANSMISE_CHORUS",
            "DEPOSEE",
        ]
        gaps = {
            (later.at - earlier.at).total_seconds()
            for earlier, later in zip(followed.history, followed.history[1:], strict=False)
        }
        assert gaps == {60.0}  # each step at its due time, however late the look
        path = f"/deposits/{deposit.deposit_id}/status"
        rejected = paced.control.post(path, json={"status": "REJETEE", "reason": "Sans bon."})
        assert rejected.status_code == 200 and rejected.json()["status"] == "REJETEE"
        after = paced.control.post(path, json={"status": "SERVICE_FAIT"})
        assert after.status_code == 409  # nothing follows a rejection
    finally:
        http.close()
        paced.stop()
