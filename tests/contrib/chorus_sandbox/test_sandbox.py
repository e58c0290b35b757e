"""The Chorus Pro sandbox over HTTP on loopback: PISTE gatekeeping, every operation, the
asynchronous processing and its errors, the recipient's moves, faults and persistence."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from stdnum.fr import siret as siret_number

import contrib.chorus_sandbox
from contrib.chorus_sandbox import seed
from contrib.chorus_sandbox.seed import AUBE, SEINE_MARITIME

REPO = Path(contrib.chorus_sandbox.__file__).resolve().parents[2]
SELLER, OTHER_BOOKSHOP = seed.DEMO_SUPPLIERS
TOWN = "21450123100184"
INACTIVE = "21450877200016"
SERVICE_OR_ENGAGEMENT = "20004123400010"
UNKNOWN = "21450999400015"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- seed ----------------------------------------------------------------------------------------


def test_seeded_directory_holds_the_guides_examples_and_valid_sirets():
    by_siret = {s.siret: s for s in seed.STRUCTURES}
    assert all(siret_number.is_valid(siret) for siret in by_siret)
    aube = by_siret[AUBE]
    assert (aube.service_required, aube.engagement_required) == (True, True)
    assert len(aube.services) == 11
    assert {s.code for s in aube.services if not s.active} == {"DGAEC"}
    seine = by_siret[SEINE_MARITIME]
    assert (seine.service_required, seine.engagement_required) == (False, True)
    assert [s.code for s in seine.services] == ["FACTURES_PUBLIQUES"]
    assert not by_siret[INACTIVE].active
    assert by_siret[SERVICE_OR_ENGAGEMENT].service_or_engagement
    assert len(by_siret[TOWN].services) > 20
    assert {SELLER, OTHER_BOOKSHOP} <= {s.siret for s in seed.STRUCTURES if not s.public}


# -- PISTE gatekeeping ---------------------------------------------------------------------------


def test_token_endpoint_issues_a_bearer_token(sandbox_client):
    response = sandbox_client.token()
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "openid"
    assert len(token["access_token"]) > 20
    assert response.headers["cache-control"] == "no-store"


def test_token_endpoint_accepts_client_credentials_in_basic_auth(sandbox_client):
    credentials = sandbox_client.credentials
    response = sandbox_client.http.post(
        "/api/oauth/token",
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "form, error",
    [
        ({"client_secret": "not-the-secret"}, "invalid_client"),
        ({"client_id": "unknown-application"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"scope": "profile"}, "invalid_scope"),
    ],
)
def test_token_endpoint_refuses_bad_requests(sandbox_client, form, error):
    response = sandbox_client.token(**form)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_api_needs_a_live_token_and_a_valid_technical_account(sandbox_client, sandbox_clock):
    path, body = "structures/v1/rechercher", {"structure": {"identifiantStructure": AUBE}}
    anonymous = sandbox_client.http.post(f"/cpro/{path}", json=body)
    assert anonymous.status_code == 401
    assert 'realm="PISTE"' in anonymous.headers["www-authenticate"]
    wrong_account = sandbox_client.call(path, body, headers=sandbox_client.headers(password="x"))
    assert wrong_account.status_code == 401
    assert wrong_account.json() == {"ErrorCode": "401", "Description": "[invalid field]"}
    assert sandbox_client.call(path, body).status_code == 200
    sandbox_clock.advance(3601)
    assert sandbox_client.call(path, body).status_code == 401
    sandbox_client.forget_token()
    assert sandbox_client.call(path, body).status_code == 200


def test_unsubscribed_api_and_unknown_route_answer_403(sandbox_client):
    http = sandbox_client.http
    application = http.post("/_sandbox/clients", json={"apis": ["factures"]}).json()
    token = sandbox_client.token(
        client_id=application["client_id"], client_secret=application["client_secret"]
    ).json()["access_token"]
    headers = {**sandbox_client.headers(), "Authorization": f"Bearer {token}"}
    structures = sandbox_client.call("structures/v1/rechercher", {}, headers=headers)
    assert structures.status_code == 403
    assert structures.content == b""
    factures = sandbox_client.call("factures/v1/consulter/fournisseur", {}, headers=headers)
    assert factures.status_code == 200
    http.patch(
        f"/_sandbox/clients/{application['client_id']}", json={"apis": ["factures", "structures"]}
    )
    structures = sandbox_client.call(
        "structures/v1/rechercher", {"structure": {"identifiantStructure": AUBE}}, headers=headers
    )
    assert structures.status_code == 200
    unknown = sandbox_client.call("factures/v1/consulter/cr", {})
    assert unknown.status_code == 403
    assert 'realm="DefaultRealm"' in unknown.headers["www-authenticate"]


def test_expired_technical_password_is_refused_and_its_expiry_is_shown(sandbox_client):
    login = sandbox_client.credentials["login"]
    http = sandbox_client.http
    http.patch(f"/_sandbox/accounts/{login}", json={"password_expires": "2027-03-01"})
    [own] = sandbox_client.op("transverses/v1/recuperer/structures/actives/fournisseur")[
        "listeStructures"
    ]
    assert own["identifiant"] == SELLER
    structure = sandbox_client.op(
        "structures/v1/consulter", {"idStructureCPP": own["idStructureCPP"]}
    )
    assert structure["informationGenerales"]["dateExpirationMotPasseCompteTech"].startswith(
        "2027-03-01T00:00:00"
    )
    http.patch(f"/_sandbox/accounts/{login}", json={"password_expires": "2026-11-19"})
    assert sandbox_client.call("structures/v1/rechercher", {}).status_code == 401


# -- deposit, processing, lifecycle --------------------------------------------------------------


def test_invoice_goes_from_deposit_to_payment_with_each_step_in_the_history(
    sandbox_start, sandbox_clock, sandbox_documents
):
    client = sandbox_start(processing_delay=120).client
    flux = client.deposit(sandbox_documents.xml("FA-2026-0142", SEINE_MARITIME))
    assert re.fullmatch(r"CPP0011106\d{15}", flux)
    report = client.report(flux)
    assert report["etatCourantDepotFlux"] == "IN_DEPOT_PORTAIL_EN_ATTENTE_TRAITEMENT_SE_CPP"
    assert report["codeInterfaceDepotFlux"] == "FSO1106A"
    assert report["nomFichier"] == f"FSO1106A_CPP001_{flux}"
    pending = client.call("factures/v1/rechercher/fournisseur", {"numeroFluxDepot": flux})
    assert pending.json()["codeRetour"] == 20000
    assert pending.json()["libelle"] == "TRA_MSG_00.015"
    sandbox_clock.advance(60)
    assert client.report(flux)["etatCourantDepotFlux"] == "IN_EN_COURS_TRAITEMENT_CPP"
    sandbox_clock.advance(60)
    report = client.report(flux)
    assert report["etatCourantDepotFlux"] == "IN_INTEGRE"
    assert report["listeErreurDP"] == report["listeErreurTechnique"] == []
    short = client.op("transverses/v1/consulterCR", {"numeroFluxDepot": flux})
    assert short["etatCourantFlux"] == "IN_INTEGRE"
    assert short["dateHeureEtatCourantFlux"] == "2026-11-20T10:02:00+01:00"
    assert "IN_INTEGRE" in base64.b64decode(short["fichierCR"]).decode()

    [invoice] = client.invoices_of(flux)
    assert invoice["statut"] == "DEPOSEE"
    assert invoice["numeroFacture"] == "FA-2026-0142"
    assert invoice["codeDestinataire"] == SEINE_MARITIME
    assert invoice["codeServiceExecutant"] is None
    assert invoice["numeroBonCommande"] == "EJ2026000815"
    assert invoice["montantTTC"] == 40.51
    invoice_id = invoice["identifiantFactureCPP"]
    for status in ("MISE_A_DISPOSITION", "SERVICE_FAIT", "MANDATEE", "MISE_EN_PAIEMENT"):
        sandbox_clock.advance(3600)
        assert client.move(invoice_id, status).status_code == 200
    assert client.move(invoice_id, "SERVICE_FAIT").status_code == 409  # final status

    client.forget_token()  # four hours later, the token has expired
    history = client.op("factures/v1/consulter/historique", {"idFacture": invoice_id})
    assert history["statutCourantCode"] == "MISE_EN_PAIEMENT"
    steps = history["historiquesDesStatuts"]["histoStatut"]  # newest first
    assert [(s["histoStatutCode"], s["histoStatutDatePassage"]) for s in reversed(steps)] == [
        ("DEPOSEE", "2026-11-20 10:00"),
        ("MISE_A_DISPOSITION", "2026-11-20 11:02"),
        ("SERVICE_FAIT", "2026-11-20 12:02"),
        ("MANDATEE", "2026-11-20 13:02"),
        ("MISE_EN_PAIEMENT", "2026-11-20 14:02"),
    ]
    detail = client.op("factures/v1/consulter/fournisseur", {"identifiantFactureCPP": invoice_id})
    facture = detail["facture"]
    assert facture["statutFacture"] == "MISE_EN_PAIEMENT"
    assert facture["destinataire"]["codeDestinataire"] == SEINE_MARITIME
    assert facture["fournisseur"]["codeFournisseur"] == SELLER
    assert facture["references"]["numeroBonCommande"] == "EJ2026000815"
    assert facture["montantTotal"] == {
        "montantHtTotal": 38.4,
        "montantTVA": 2.11,
        "montantTtcTotal": 40.51,
        "montantAPayer": 40.51,
    }


@pytest.mark.parametrize("syntax", ["cii", "ubl", "facturx"])
def test_each_syntax_is_integrated_with_siren_and_siret_of_the_buyer(
    sandbox_client, sandbox_documents, syntax
):
    document = sandbox_documents.document(
        syntax,
        f"FA-{syntax.upper()}-1",
        AUBE,
        service="DFCG",
        engagement="Ej-Aube-2026-4417",
        buyer_layout="siren+siret",
    )
    flux = sandbox_client.deposit(document, syntax)
    sandbox_client.process()
    assert sandbox_client.report(flux)["etatCourantDepotFlux"] == "IN_INTEGRE"
    [invoice] = sandbox_client.invoices_of(flux)
    assert invoice["codeDestinataire"] == AUBE
    assert invoice["codeServiceExecutant"] == "DFCG"
    assert invoice["numeroBonCommande"] == "Ej-Aube-2026-4417"


def test_xsd_error_rejects_the_flux_with_its_line(sandbox_client, sandbox_documents):
    xml = sandbox_documents.xml("FA-XSD-1").replace(
        b"<ram:TypeCode>380</ram:TypeCode>",
        b"<ram:TypeCode>380</ram:TypeCode><ram:Unexpected>1</ram:Unexpected>",
    )
    flux = sandbox_client.deposit(xml)
    sandbox_client.process()
    report = sandbox_client.report(flux)
    assert report["etatCourantDepotFlux"] == "IN_REJETE"
    [error] = report["listeErreurTechnique"]
    assert error["natureErreur"] == "ERR_XSD"
    assert error["libelleErreur"].startswith("IRRECEVABILITE:")
    assert "Unexpected" in error["libelleErreur"]
    assert re.search(r"ligne: \d+ - position: \d+$", error["libelleErreur"])
    assert report["listeErreurDP"] == []


def test_schematron_error_rejects_the_flux_with_the_rule(
    sandbox_client, sandbox_documents, sandbox_clock
):
    flux = sandbox_client.deposit(sandbox_documents.xml("FA-BR-1", grand_total="41.00"))
    sandbox_clock.advance(300)
    sandbox_client.process()
    report = sandbox_client.report(flux)
    assert report["etatCourantDepotFlux"] == "IN_REJETE"
    assert report["dateDepotFlux"] == "2026-11-20T10:00:00+01:00"
    assert report["dateHeureEtatCourantFlux"] == "2026-11-20T10:05:00+01:00"
    assert {(e["natureErreur"], e["codeErreur"]) for e in report["listeErreurTechnique"]} >= {
        ("ERR_SCHEMATRON", "BR-CO-15")
    }


@pytest.mark.parametrize(
    "content, syntax, nature",
    [
        (b"ubl", "cii", "ERR_XSD"),  # a UBL invoice deposited as CII 16B
        (b"cii", "facturx", "ERR_FORMAT"),  # an XML where a Factur-X PDF is expected
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "cii", "ERR_FORMAT"),
    ],
)
def test_unreadable_or_mismatched_documents_reject_the_flux(
    sandbox_client, sandbox_documents, content, syntax, nature
):
    if content in (b"ubl", b"cii"):
        content = sandbox_documents.xml("FA-MIX-1", syntax=content.decode())
    flux = sandbox_client.deposit(content, syntax, name="facture.xml")
    sandbox_client.process()
    report = sandbox_client.report(flux)
    assert report["etatCourantDepotFlux"] == "IN_REJETE"
    assert report["listeErreurTechnique"][0]["natureErreur"] == nature


@pytest.mark.parametrize(
    "change, code, words",
    [
        ({"syntaxeFlux": "IN_DP_E9_INCONNU"}, 20003, "syntaxeFlux inconnue"),
        ({"syntaxeFlux": "IN_DP_E1_XCBL"}, 20003, "non prise en charge"),
        ({"fichierFlux": "pas du base64 !"}, 20003, "base64"),
        ({"nomFichier": ""}, 20003, "nomFichier"),
        ({"fichierFlux": b64(b"x" * 2048)}, 20001, "GDP_MSG_11.022"),  # over max_flux_bytes
    ],
)
def test_deposit_requests_are_checked_at_once(sandbox_start, change, code, words):
    client = sandbox_start(max_flux_bytes=1024).client
    body = {
        "fichierFlux": b64(b"<Invoice/>"),
        "nomFichier": "facture.xml",
        "syntaxeFlux": "IN_DP_E1_UBL_INVOICE",
        **change,
    }
    answer = client.call("factures/v1/deposer/flux", body).json()
    assert answer["codeRetour"] == code
    assert words in answer["libelle"]
    not_json = client.http.post(
        "/cpro/factures/v1/deposer/flux", content=b"{not json", headers=client.headers()
    )
    assert not_json.json()["codeRetour"] == 20003


DP_CASES = {
    "DP-UNKNOWN": ({"buyer": UNKNOWN}, "n'est pas référencé dans notre système"),
    "DP-INACTIVE": ({"buyer": INACTIVE}, f"La structure destinataire {INACTIVE} n'est pas active"),
    "DP-AUBE-NOSERV": ({"buyer": AUBE}, "Le code service est obligatoire"),
    "DP-AUBE-DGAEC": ({"buyer": AUBE, "service": "DGAEC"}, "Le service DGAEC"),
    "DP-AUBE-NOCODE": ({"buyer": AUBE, "service": "DFCG2"}, "Le code service DFCG2 n'existe pas"),
    "DP-SM-NOEJ": ({"engagement": None}, "numéro d'engagement est obligatoire pour la structure"),
    "DP-EITHER": (
        {"buyer": SERVICE_OR_ENGAGEMENT, "engagement": None},
        "Le code service ou le numéro d'engagement doit être renseigné",
    ),
    "DP-MEDIA-NOEJ": (
        {"buyer": TOWN, "service": "MEDIATHEQUE", "engagement": None},
        "obligatoire pour le service MEDIATHEQUE",
    ),
    "DP-RESERVED": ({"service": "FACTURES_PUBLIQUES"}, "FACTURES_PUBLIQUES est réservé"),
    "DP-OTHER-SELLER": ({"seller": OTHER_BOOKSHOP}, "n'est pas rattaché à la structure"),
    "DP-NO-SELLER": ({"seller": "88812345200029"}, "identifiant fournisseur"),
    "FA-ALREADY-SENT": ({}, "existe déjà pour le fournisseur"),
    "NUMERO-BIEN-TROP-LONG-1": ({}, "est invalide : 20 caractères au plus"),
}


def test_each_directory_rule_gives_its_dp_error_in_a_partial_flux(
    sandbox_client, sandbox_documents
):
    first = sandbox_client.deposit(sandbox_documents.xml("FA-ALREADY-SENT"))
    sandbox_client.process()
    assert sandbox_client.report(first)["etatCourantDepotFlux"] == "IN_INTEGRE"
    files = {
        f"{number}.xml": sandbox_documents.xml(number, **options)
        for number, (options, _) in DP_CASES.items()
    }
    files["FA-GOOD-1.xml"] = sandbox_documents.xml("FA-GOOD-1", AUBE, service="DSRSA")
    flux = sandbox_client.deposit(sandbox_documents.tar_gz(files), name="lot.tar.gz")
    sandbox_client.process()
    report = sandbox_client.report(flux)
    assert report["etatCourantDepotFlux"] == "IN_INTEGRE_PARTIEL"
    errors = {e["numeroDP"]: e for e in report["listeErreurDP"]}
    assert set(errors) == set(DP_CASES)
    for number, (_, message) in DP_CASES.items():
        assert message in errors[number]["libelleErreurDP"], number
    assert errors["DP-UNKNOWN"]["identifiantDestinataire"] == UNKNOWN
    assert errors["DP-AUBE-NOSERV"]["identifiantFournisseur"] == SELLER
    assert [i["numeroFacture"] for i in sandbox_client.invoices_of(flux)] == ["FA-GOOD-1"]


def test_depositing_the_same_number_again_is_counted_and_rejected(
    sandbox_client, sandbox_documents
):
    document = sandbox_documents.xml("FA-TWICE-1")
    first = sandbox_client.deposit(document)
    second = sandbox_client.deposit(document)
    sandbox_client.process()
    assert sandbox_client.report(first)["etatCourantDepotFlux"] == "IN_INTEGRE"
    report = sandbox_client.report(second)
    assert report["etatCourantDepotFlux"] == "IN_REJETE"
    assert "existe déjà" in report["listeErreurDP"][0]["libelleErreurDP"]
    counters = sandbox_client.http.get("/_sandbox/counters").json()
    assert counters["deposits"][SELLER]["FA-TWICE-1"] == 2
    assert counters["calls"]["factures/v1/deposer/flux"] == 2


def test_a_flux_of_25_invoices_is_searched_10_a_page(sandbox_client, sandbox_documents):
    numbers = [f"LOT-{i:02d}" for i in range(25)]
    archive = sandbox_documents.zip({f"{n}.xml": sandbox_documents.xml(n) for n in numbers})
    flux = sandbox_client.deposit(archive, name="lot.zip")
    sandbox_client.process()
    assert sandbox_client.report(flux)["etatCourantDepotFlux"] == "IN_INTEGRE"
    pages = [
        sandbox_client.op(
            "factures/v1/rechercher/fournisseur",
            {
                "numeroFluxDepot": flux,
                "rechercheFactureParFournisseur": {"pageResultatDemandee": p},
            },
        )
        for p in (1, 2, 3)
    ]
    assert [len(p["listeFactures"]) for p in pages] == [10, 10, 5]
    assert pages[0]["parametresRetour"] == {
        "nbResultatsParPage": 10,
        "pageCourante": 1,
        "pages": 3,
        "total": 25,
    }
    found = [i for p in pages for i in p["listeFactures"]]
    assert sorted(i["numeroFacture"] for i in found) == numbers
    assert len({i["identifiantFactureCPP"] for i in found}) == 25
    assert {i["statut"] for i in found} == {"DEPOSEE"}


# -- corrective actions --------------------------------------------------------------------------


def _integrated(client, documents, number, buyer=AUBE, **options) -> int:
    options.setdefault("service", "DFCG")
    flux = client.deposit(documents.xml(number, buyer, **options))
    client.process()
    [invoice] = client.invoices_of(flux)
    return invoice["identifiantFactureCPP"]


def test_recycling_only_from_a_recycler_and_under_the_directory_rules(
    sandbox_client, sandbox_documents
):
    invoice_id = _integrated(sandbox_client, sandbox_documents, "FA-REC-1")
    body = {
        "identifiantFactureCPP": invoice_id,
        "destinataire": {"codeDestinataire": AUBE, "codeServiceExecutant": "SLATROYES"},
        "commentaire": "Service corrigé",
    }
    assert sandbox_client.call("factures/v1/recycler", body).json()["codeRetour"] == 20004
    assert sandbox_client.move(invoice_id, "A_RECYCLER").status_code == 400  # reason needed
    assert sandbox_client.move(invoice_id, "A_RECYCLER", "Mauvais service").status_code == 200
    inactive = {**body, "destinataire": {"codeDestinataire": AUBE, "codeServiceExecutant": "DGAEC"}}
    assert sandbox_client.call("factures/v1/recycler", inactive).json()["codeRetour"] == 20009
    recycled = sandbox_client.op("factures/v1/recycler", body)
    assert recycled["statutFacture"] == "DEPOSEE"
    assert recycled["numeroFacture"] == "FA-REC-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", recycled["dateDepot"])
    [invoice] = sandbox_client.op(
        "factures/v1/rechercher/fournisseur", {"numeroFacture": "FA-REC-1"}
    )["listeFactures"]
    assert (invoice["codeServiceExecutant"], invoice["statut"]) == ("SLATROYES", "DEPOSEE")
    steps = sandbox_client.op("factures/v1/consulter/historique", {"idFacture": invoice_id})
    codes = [
        (s["histoStatutCode"], s["histoStatutCommentaire"])
        for s in reversed(steps["historiquesDesStatuts"]["histoStatut"])
    ]
    assert codes == [
        ("DEPOSEE", None),
        ("A_RECYCLER", "Mauvais service"),
        ("DEPOSEE", "Service corrigé"),
    ]


def test_completing_only_a_suspended_invoice_with_an_added_file(sandbox_client, sandbox_documents):
    invoice_id = _integrated(sandbox_client, sandbox_documents, "FA-SUSP-1")
    refused = sandbox_client.call("factures/v1/completer", {"identifiantFactureCPP": invoice_id})
    assert refused.json() == {"codeRetour": 20002, "libelle": "GDP_MSG_11.033"}
    assert sandbox_client.move(invoice_id, "SUSPENDUE", "Bon de livraison manquant").is_success
    assert sandbox_client.move(invoice_id, "SERVICE_FAIT").status_code == 409  # supplier's turn
    bad = sandbox_client.call(
        "transverses/v1/ajouter/fichier",
        {
            "pieceJointeFichier": b64(b"MZ"),
            "pieceJointeNom": "bl.exe",
            "pieceJointeExtension": "EXE",
        },
    )
    assert bad.json()["codeRetour"] == 20015
    attachment = sandbox_client.op(
        "transverses/v1/ajouter/fichier",
        {
            "pieceJointeFichier": b64(b"%PDF-1.4 bon de livraison"),
            "pieceJointeNom": "bon-de-livraison.pdf",
            "pieceJointeTypeMime": "application/pdf",
            "pieceJointeExtension": "PDF",
        },
    )["pieceJointeId"]
    body = {
        "identifiantFactureCPP": invoice_id,
        "commentaire": "BL joint",
        "pieceJointeComplementaire": [
            {
                "pieceJointeComplementaireId": attachment,
                "pieceJointeComplementaireDesignation": "BL",
            }
        ],
    }
    completed = sandbox_client.op("factures/v1/completer", body)
    assert completed["numeroFacture"] == "FA-SUSP-1"
    facture = sandbox_client.op(
        "factures/v1/consulter/fournisseur", {"identifiantFactureCPP": invoice_id}
    )["facture"]
    assert facture["statutFacture"] == "COMPLETEE"
    assert [p["pieceJointeId"] for p in facture["listeDesPiecesJointes"]["pieceJointe"]] == [
        attachment
    ]


def test_pdf_deposit_then_submit(sandbox_client, sandbox_documents):
    pdf = sandbox_documents.facturx("FA-PDF-1", SEINE_MARITIME)
    uploaded = sandbox_client.op(
        "factures/v1/deposer/pdf",
        {"fichierFacture": b64(pdf), "nomFichier": "FA-PDF-1.pdf", "formatDepot": "PDF_NON_SIGNE"},
    )
    assert uploaded["numeroFacture"] == "FA-PDF-1"  # the sandbox's "OCR" reads the Factur-X XML
    assert uploaded["codeDestinataire"] == SEINE_MARITIME
    not_pdf = sandbox_client.call(
        "factures/v1/deposer/pdf", {"fichierFacture": b64(b"<xml/>"), "nomFichier": "f.pdf"}
    )
    assert not_pdf.json()["codeRetour"] == 20015
    [own] = sandbox_client.op("transverses/v1/recuperer/structures/actives/fournisseur")[
        "listeStructures"
    ]
    body = {
        "idUtilisateurCourant": 0,
        "modeDepot": "DEPOT_PDF_API",
        "numeroFactureSaisi": "FA-PDF-1",
        "dateFacture": "2026-11-20",
        "destinataire": {"codeDestinataire": SEINE_MARITIME, "codeServiceExecutant": ""},
        "fournisseur": {"idFournisseur": own["idStructureCPP"]},
        "cadreDeFacturation": {"codeCadreFacturation": "A1_FACTURE_FOURNISSEUR"},
        "references": {
            "deviseFacture": "EUR",
            "typeFacture": "FACTURE",
            "typeTva": "TVA_SUR_DEBIT",
            "modePaiement": "VIREMENT",
            "numeroBonCommande": "EJ2026000815",
        },
        "montantTotal": {
            "montantHtTotal": 92.56,
            "montantTVA": 5.09,
            "montantTtcTotal": 97.65,
            "montantAPayer": 97.65,
        },
        "pieceJointePrincipale": [
            {
                "pieceJointePrincipaleDesignation": "facture",
                "pieceJointePrincipaleId": uploaded["pieceJointeId"],
            }
        ],
    }
    submitted = sandbox_client.op("factures/v1/soumettre", body)
    assert submitted["statutFacture"] == "DEPOSEE"
    facture = sandbox_client.op(
        "factures/v1/consulter/fournisseur",
        {"identifiantFactureCPP": submitted["identifiantFactureCPP"]},
    )["facture"]
    assert facture["modeDepot"] == "DEPOT_PDF_API"
    assert facture["montantTotal"]["montantTtcTotal"] == 97.65
    assert facture["pieceJointePrincipale"] == {
        "idPieceJointePrincipale": uploaded["pieceJointeId"]
    }
    again = sandbox_client.call("factures/v1/soumettre", {**body, "pieceJointePrincipale": []})
    assert again.json()["codeRetour"] == 20003  # the PDF is mandatory
    pdf_again = sandbox_client.op(
        "transverses/v1/ajouter/fichier",
        {
            "pieceJointeFichier": b64(pdf),
            "pieceJointeNom": "copie.pdf",
            "pieceJointeExtension": "PDF",
        },
    )["pieceJointeId"]
    main = [{"pieceJointePrincipaleId": pdf_again}]
    duplicate = sandbox_client.call(
        "factures/v1/soumettre", {**body, "pieceJointePrincipale": main}
    )
    assert duplicate.json()["codeRetour"] == 20013
    to_aube = {
        **body,
        "numeroFactureSaisi": "FA-PDF-2",
        "destinataire": {"codeDestinataire": AUBE},
        "pieceJointePrincipale": main,
    }
    assert sandbox_client.call("factures/v1/soumettre", to_aube).json()["codeRetour"] == 20007
    counters = sandbox_client.http.get("/_sandbox/counters").json()["deposits"][SELLER]
    assert counters == {"FA-PDF-1": 1}


def test_another_suppliers_invoice_and_flux_are_invisible(sandbox_client, sandbox_documents):
    flux = sandbox_client.deposit(sandbox_documents.xml("FA-MINE-1"))
    sandbox_client.process()
    [invoice] = sandbox_client.invoices_of(flux)
    other = sandbox_client.credentials["accounts"][1]
    headers = sandbox_client.headers(login=other["login"], password=other["password"])
    consult = sandbox_client.call(
        "factures/v1/consulter/fournisseur",
        {"identifiantFactureCPP": invoice["identifiantFactureCPP"]},
        headers=headers,
    )
    assert consult.json() == {"codeRetour": 20000, "libelle": "GDP_MSG_11.008"}
    report = sandbox_client.call(
        "transverses/v1/consulterCR", {"numeroFluxDepot": flux}, headers=headers
    )
    assert report.json()["codeRetour"] == 20020


# -- directory -----------------------------------------------------------------------------------


def _structure_id(client, siret: str) -> int:
    answer = client.op(
        "structures/v1/rechercher",
        {
            "structure": {"identifiantStructure": siret, "typeIdentifiantStructure": "SIRET"},
            "restreindreStructuresPrivees": False,
        },
    )
    [structure] = answer["listeStructures"]
    return structure["idStructureCPP"]


def test_structures_are_searched_and_consulted_as_the_guide_shows(sandbox_client):
    aube_id = _structure_id(sandbox_client, AUBE)
    aube = sandbox_client.op("structures/v1/consulter", {"idStructureCPP": aube_id})
    assert aube["libelle"] == "GCU_MSG_01_000"
    assert aube["informationGenerales"]["raisonSocialeStructure"] == "DEPARTEMENT DE L'AUBE"
    assert aube["parametres"]["codeServiceDoitEtreRenseigne"] is True
    assert aube["parametres"]["numeroEJDoitEtreRenseigne"] is True
    assert aube["parametres"]["gestionNumeroEJOuCodeService"] is False
    first_page = sandbox_client.op("structures/v1/rechercher/services", {"idStructure": aube_id})
    assert len(first_page["listeServices"]) == 10
    assert first_page["parametresRetour"]["total"] == 11
    assert first_page["parametresRetour"]["pages"] == 2
    everything = sandbox_client.op(
        "structures/v1/rechercher/services",
        {
            "idStructure": aube_id,
            "parametresRechercherServicesStructure": {"nbResultatsParPage": 10000},
        },
    )["listeServices"]
    by_code = {s["codeService"]: s for s in everything}
    assert len(by_code) == 11
    assert (by_code["DGAEC"]["estActif"], by_code["DGAEC"]["statutService"]) == (False, "SUPPRIME")
    assert by_code["DGAEC"]["libelleService"] == "Service de la Musique"
    dfcg = sandbox_client.op(
        "structures/v1/consulter/service",
        {"idStructure": aube_id, "idService": by_code["DFCG"]["idService"]},
    )
    assert dfcg["informationsGenerales"]["codeService"] == "DFCG"
    assert dfcg["parametres"]["numeroEngagement"] is True

    seine = sandbox_client.op(
        "structures/v1/consulter", {"idStructure": _structure_id(sandbox_client, SEINE_MARITIME)}
    )["parametres"]
    assert (seine["codeServiceDoitEtreRenseigne"], seine["numeroEJDoitEtreRenseigne"]) == (
        False,
        True,
    )
    inactive = sandbox_client.op(
        "structures/v1/rechercher", {"structure": {"identifiantStructure": INACTIVE}}
    )["listeStructures"]
    assert inactive[0]["statut"] == "INACTIVE"
    by_name = sandbox_client.op(
        "structures/v1/rechercher", {"structure": {"raisonSocialeStructure": "ormes"}}
    )
    assert by_name["parametresRetour"]["total"] == 4  # case and hyphens do not matter
    nothing = sandbox_client.call(
        "structures/v1/rechercher", {"structure": {"identifiantStructure": UNKNOWN}}
    )
    assert nothing.status_code == 200
    assert nothing.json()["codeRetour"] == 20000
    assert nothing.json()["libelle"] == "TRA_MSG_00.015"
    unknown_structure = sandbox_client.call("structures/v1/consulter", {"idStructureCPP": 1})
    assert unknown_structure.json()["codeRetour"] == 20016
    unknown_service = sandbox_client.call(
        "structures/v1/consulter/service", {"idStructure": aube_id, "idService": 1}
    )
    assert unknown_service.json()["codeRetour"] == 20017
    private = sandbox_client.call(
        "structures/v1/rechercher", {"structure": {"identifiantStructure": OTHER_BOOKSHOP}}
    )
    assert private.json()["codeRetour"] == 20000  # private structures of others are hidden
    assert _structure_id(sandbox_client, OTHER_BOOKSHOP)  # unless the search asks for them


def test_the_directory_export_lists_public_structures_and_services(sandbox_client):
    answer = sandbox_client.op("transverses/v1/telecharger/annuaire/destinataire", {})
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(answer["fichierResultat"])))
    rows = list(
        csv.DictReader(
            io.StringIO(archive.read("annuaire_destinataires.csv").decode()), delimiter=";"
        )
    )
    by_siret = {r["Identifiant"]: r for r in rows}
    assert by_siret[AUBE]["GestionService"] == "true"
    assert by_siret[SEINE_MARITIME]["GestionService"] == "false"
    assert by_siret[INACTIVE]["StructureActive"] == "false"
    assert SELLER not in by_siret
    services = archive.read("annuaire_services.csv").decode()
    assert f"{AUBE};DGAEC;Service de la Musique;false;true" in services


def test_directory_changes_apply_to_the_next_deposits(sandbox_client, sandbox_documents):
    http = sandbox_client.http
    changed = http.patch(
        f"/_sandbox/structures/{SEINE_MARITIME}", json={"engagement_required": False}
    )
    assert changed.json()["engagement_required"] is False
    no_engagement = sandbox_client.deposit(sandbox_documents.xml("FA-DIR-1", engagement=None))
    http.patch(f"/_sandbox/structures/{AUBE}/services/DFCG", json={"status": "SUPPRIME"})
    deactivated = sandbox_client.deposit(sandbox_documents.xml("FA-DIR-2", AUBE, service="DFCG"))
    sandbox_client.process()
    assert sandbox_client.report(no_engagement)["etatCourantDepotFlux"] == "IN_INTEGRE"
    report = sandbox_client.report(deactivated)
    assert "Le service DFCG" in report["listeErreurDP"][0]["libelleErreurDP"]

    school = "19450555800016"
    created = http.post(
        "/_sandbox/structures",
        json={
            "siret": school,
            "name": "COLLEGE GEORGE SAND",
            "engagement_required": True,
            "services": [{"code": "CDI", "name": "CDI", "engagement_required": True}],
        },
    )
    assert created.status_code == 201
    assert created.json()["services"][0]["code"] == "CDI"
    assert _structure_id(sandbox_client, school)
    refused = http.post("/_sandbox/structures", json={"siret": "12345678901234", "name": "X"})
    assert refused.status_code == 400
    assert http.patch(f"/_sandbox/structures/{AUBE}", json={"status": "GONE"}).status_code == 400


# -- faults --------------------------------------------------------------------------------------


def test_the_next_calls_can_be_made_to_fail(sandbox_client):
    headers = sandbox_client.headers()
    sandbox_client.http.put("/_sandbox/faults", json={"fail_next": 2, "error_statuses": [429]})
    answers = [
        sandbox_client.call("transverses/v1/health-check", headers=headers) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [429, 429, 405]  # a GET: the third got through
    assert answers[0].headers["retry-after"] == "1"
    faults = sandbox_client.http.get("/_sandbox/counters").json()["faults"]
    assert faults["error"] == 2


def test_seeded_error_rate_is_reproducible(sandbox_client):
    headers = sandbox_client.headers()

    def run() -> list[int]:
        sandbox_client.http.put("/_sandbox/faults", json={"error_rate": 0.5, "seed": 7})
        return [
            sandbox_client.http.get(
                "/cpro/transverses/v1/health-check", headers=headers
            ).status_code
            for _ in range(20)
        ]

    first = run()
    assert first == run()
    assert {200} < set(first) <= {200, 500, 502, 503}


def test_a_timed_out_deposit_still_happened(sandbox_client, sandbox_documents):
    headers = sandbox_client.headers()
    sandbox_client.http.put(
        "/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_seconds": 5, "paths": ["/cpro/"]}
    )
    body = {
        "fichierFlux": b64(sandbox_documents.xml("FA-TIMEOUT-1")),
        "nomFichier": "facture.xml",
        "syntaxeFlux": "IN_DP_E1_CII_16B",
    }
    with pytest.raises(httpx.ReadTimeout):
        sandbox_client.call("factures/v1/deposer/flux", body, headers=headers, timeout=0.5)
    sandbox_client.http.delete("/_sandbox/faults")
    sandbox_client.process()
    counters = sandbox_client.http.get("/_sandbox/counters").json()
    assert counters["deposits"][SELLER] == {"FA-TIMEOUT-1": 1}
    found = sandbox_client.op(
        "factures/v1/rechercher/fournisseur", {"numeroFacture": "FA-TIMEOUT-1"}
    )
    assert found["listeFactures"][0]["statut"] == "DEPOSEE"


def test_a_timeout_before_processing_answers_504_and_deposits_nothing(
    sandbox_client, sandbox_documents
):
    headers = sandbox_client.headers()
    sandbox_client.http.put(
        "/_sandbox/faults",
        json={"timeout_rate": 1.0, "timeout_seconds": 0.2, "timeout_mode": "before"},
    )
    body = {
        "fichierFlux": b64(sandbox_documents.xml("FA-504-1")),
        "nomFichier": "facture.xml",
        "syntaxeFlux": "IN_DP_E1_CII_16B",
    }
    started = time.monotonic()
    response = sandbox_client.call("factures/v1/deposer/flux", body, headers=headers)
    assert response.status_code == 504
    assert time.monotonic() - started >= 0.2
    assert sandbox_client.http.get("/_sandbox/counters").json()["deposits"] == {}


def test_slow_answers_and_token_expiry(sandbox_client):
    headers = sandbox_client.headers()
    sandbox_client.http.put("/_sandbox/faults", json={"slow_rate": 1.0, "slow_seconds": 0.2})
    started = time.monotonic()
    assert sandbox_client.call("structures/v1/rechercher", {}, headers=headers).status_code == 200
    assert time.monotonic() - started >= 0.2
    sandbox_client.http.delete("/_sandbox/faults")
    assert sandbox_client.http.post("/_sandbox/tokens/expire").json()["expired"] == 1
    assert sandbox_client.call("structures/v1/rechercher", {}, headers=headers).status_code == 401
    bad_plan = sandbox_client.http.put("/_sandbox/faults", json={"error_rate": 2})
    assert bad_plan.status_code == 400


# -- options, persistence, command line ----------------------------------------------------------


def test_business_errors_can_answer_http_400(sandbox_start):
    client = sandbox_start(business_error_status=400).client
    response = client.call("factures/v1/consulter/fournisseur", {"identifiantFactureCPP": 1})
    assert response.status_code == 400
    assert response.json() == {"codeRetour": 20000, "libelle": "GDP_MSG_11.008"}


def test_state_survives_a_restart(sandbox_start, sandbox_documents, tmp_path):
    state = tmp_path / "persistent.sqlite3"
    first = sandbox_start(state)
    credentials = first.client.credentials
    token = first.client.token().json()["access_token"]
    flux = first.client.deposit(sandbox_documents.xml("FA-KEEP-1"))
    first.client.process()
    [invoice] = first.client.invoices_of(flux)
    first.client.move(invoice["identifiantFactureCPP"], "MISE_A_DISPOSITION")
    first.client.http.patch(f"/_sandbox/structures/{AUBE}", json={"status": "INACTIF"})
    first.stop()

    second = sandbox_start(state).client
    assert {
        k: second.credentials[k] for k in ("client_id", "client_secret", "login", "password")
    } == {k: credentials[k] for k in ("client_id", "client_secret", "login", "password")}
    headers = {**second.headers(), "Authorization": f"Bearer {token}"}
    report = second.call(
        "transverses/v1/consulterCRDetaille", {"numeroFluxDepot": flux}, headers=headers
    )
    assert report.json()["etatCourantDepotFlux"] == "IN_INTEGRE"
    [kept] = second.invoices_of(flux)
    assert kept["statut"] == "MISE_A_DISPOSITION"
    assert second.http.get(f"/_sandbox/structures/{AUBE}").json()["status"] == "INACTIF"
    assert second.http.get("/_sandbox/counters").json()["deposits"][SELLER] == {"FA-KEEP-1": 1}
    second.http.post("/_sandbox/reset", json={})
    assert second.http.get(f"/_sandbox/structures/{AUBE}").json()["status"] == "ACTIF"
    assert second.http.get("/_sandbox/counters").json()["deposits"] == {}
    assert second.credentials["client_id"] == credentials["client_id"]


def test_command_line_serves_and_writes_the_credentials(tmp_path):
    help_text = subprocess.run(
        [sys.executable, "-m", "contrib.chorus_sandbox", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--credentials-out" in help_text and "/_sandbox" in help_text
    out = tmp_path / "credentials.json"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "contrib.chorus_sandbox", "--port", "0",
            "--state", str(tmp_path / "cli.sqlite3"), "--credentials-out", str(out),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        banner = process.stdout.readline()
        assert re.search(r"http://127\.0\.0\.1:\d+", banner), banner
        credentials = json.loads(out.read_text())
        assert {"client_id", "client_secret", "login", "password"} <= set(credentials)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        token = httpx.post(
            credentials["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"],
                "scope": "openid",
            },
            timeout=30,
        )
        assert token.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
