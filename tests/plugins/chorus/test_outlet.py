"""The ``chorus`` outlet against the Chorus Pro sandbox, run as a black box in a subprocess:
deposit, flux report, every page of the search, history, corrective actions, health, and
never two deposits of one invoice whatever fails in between."""

from __future__ import annotations

import io
import itertools
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lxml import etree

from gateway.outlets import (
    Document,
    PermanentOutletError,
    PollContext,
    Receipt,
    SendContext,
    TransientOutletError,
)
from gateway.schemas import load_invoice
from plugins.chorus.api import ChorusBusinessError, ChorusConfigError, TokenCache
from plugins.chorus.outlet import (
    UNCERTAIN_SINCE,
    ChorusOutlet,
    Pending,
    dp_finding,
    flux_chunks,
    invoice_identity,
    merged_settings,
    unique_names,
)
from plugins.en16931.renderers import CiiRenderer, FacturxRenderer, PdfRenderer, UblRenderer
from tests.conftest import example

RENDERERS = {r.name: r for r in (FacturxRenderer(), CiiRenderer(), UblRenderer(), PdfRenderer())}
AUBE = "22100005200011"
INACTIVE = "21450877200016"
NUMBERS = itertools.count(1)


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def outlet():
    with httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0)) as http:
        yield ChorusOutlet(
            {"settle_seconds": 600, "retry_delay": 0.01}, http=http, tokens=TokenCache()
        )


def invoice(name: str = "invoice-seine-maritime", **changes):
    data = example(name)
    data["number"] = f"CH-{next(NUMBERS):04d}"
    for key, value in changes.items():
        part, _, name = key.partition("__")
        if name:
            data[part][name] = value
        else:
            data[part] = value
    return load_invoice(data)


def render(renderer: str, invoice, profile: str = "chorus") -> bytes:
    return RENDERERS[renderer].render(invoice, profile=profile)


def context(settings: dict, invoice, attempt: int = 1, state: dict | None = None) -> SendContext:
    return SendContext(
        invoice_id=f"inv-{invoice.number}",
        member_id="mem-1",
        attempt=attempt,
        settings=settings,
        render=render,
        state=dict(state or {}),
    )


def documents(outlet, settings, invoice, document: bytes | None = None) -> list[Document]:
    """The document rendered at acceptance, as the worker hands it over."""
    renderer, profile = outlet.document_format(settings)
    content = document or render(renderer, invoice, profile)
    name = "facture.pdf" if content.startswith(b"%PDF") else "facture.xml"
    return [Document(name, "application/octet-stream", content)]


def send(outlet, settings, invoice, attempt=1, document=None, state=None) -> Receipt:
    """Send as the worker does: the document rendered at acceptance, then the receipt kept;
    ``state`` is what an earlier attempt's error asked to keep."""
    ctx = context(settings, invoice, attempt, state)
    receipt = outlet.send(invoice, documents(outlet, settings, invoice, document), ctx)
    receipt.invoice_id = ctx.invoice_id
    return receipt


def poll(outlet, settings, *receipts: Receipt):
    """Poll, then merge each update's data into its receipt as the core does."""
    updates = outlet.poll(list(receipts), PollContext("mem-1", settings))
    by_id = {receipt.invoice_id: receipt for receipt in receipts}
    for update in updates:
        by_id[update.invoice_id].data.update(update.data)
    return updates


def move(sandbox, receipt: Receipt, status: str, reason: str | None = None) -> None:
    cpp_id = receipt.data["identifiantFactureCPP"]
    body = {"status": status, **({"reason": reason} if reason else {})}
    sandbox.control.post(f"/invoices/{cpp_id}/status", json=body).raise_for_status()


def integrated(outlet, sandbox, settings, invoice, **options) -> Receipt:
    receipt = send(outlet, settings, invoice, **options)
    sandbox.process_flux()
    (update,) = poll(outlet, settings, receipt)
    assert update.status == "DEPOSEE"
    return receipt


# --- settings -------------------------------------------------------------------------------


def test_the_document_follows_the_members_syntax():
    outlet = ChorusOutlet({})
    assert outlet.document_format({}) == ("facturx", "chorus")
    assert outlet.document_format({"syntax": "cii"}) == ("cii", "chorus")
    assert ChorusOutlet({"syntax": "ubl"}).document_format({}) == ("ubl", "chorus")


def test_an_unknown_syntax_is_refused_when_the_gateway_starts():
    with pytest.raises(ChorusConfigError, match="syntax.*facturx, cii, ubl"):
        ChorusOutlet({"syntax": "pdf"})


def test_another_environment_switches_the_whole_credential_set():
    own = {"environment": "sandbox", "client_id": "assoc", "client_secret": "s", "syntax": "cii"}
    same = merged_settings({"login": "TECH_1_a", "password": "p"}, own)
    assert (same["client_id"], same["login"], same["syntax"]) == ("assoc", "TECH_1_a", "cii")
    other = merged_settings({"environment": "production", "login": "TECH_1_b"}, own)
    assert "client_id" not in other and other["syntax"] == "cii"
    assert other["environment"] == "production"


def test_a_member_naming_its_own_server_gets_none_of_the_associations_credentials():
    own = {
        "environment": "production",
        "client_id": "assoc",
        "client_secret": "assoc-secret",
        "login": "TECH_1_assoc",
        "password": "assoc-password",
    }
    for server in ({"api_url": "https://127.0.0.1:9/"}, {"token_url": "https://127.0.0.1:9/t"}):
        merged = merged_settings(server, own)
        assert not {"client_id", "client_secret", "login", "password"} & set(merged), server
    same = merged_settings(
        {"api_url": "https://api.example"}, {**own, "api_url": "https://api.example"}
    )
    assert same["client_secret"] == "assoc-secret"


def test_the_read_retry_pause_is_the_associations_not_a_members():
    outlet = ChorusOutlet({"retry_delay": 0.25})
    member = {"client_id": "a", "client_secret": "b", "login": "c", "password": "d"}
    assert outlet.client({**member, "retry_delay": 86400}).retry_delay == 0.25


# --- send and poll --------------------------------------------------------------------------


def test_an_invoice_through_its_whole_life(sandbox, outlet):
    settings = sandbox.settings()
    receipt = send(outlet, settings, invoice())
    assert receipt.status == "DEPOSEE"
    assert receipt.reference.startswith("CPP0011117")
    assert receipt.data["syntaxeFlux"] == "IN_DP_E2_CII_FACTURX"
    assert poll(outlet, settings, receipt) == []  # not processed yet
    sandbox.process_flux()
    (update,) = poll(outlet, settings, receipt)
    assert update.status == "DEPOSEE" and update.data["identifiantFactureCPP"]
    steps = ["MISE_A_DISPOSITION", "SERVICE_FAIT", "MANDATEE", "MISE_EN_PAIEMENT"]
    for status in steps:
        move(sandbox, receipt, status)
    (update,) = poll(outlet, settings, receipt)
    assert update.status == "MISE_EN_PAIEMENT"
    assert [code for code, _, _ in update.history] == ["DEPOSEE", *steps]
    times = [at for _, at, _ in update.history]
    assert times == sorted(times) and all(at.tzinfo is not None for at in times)
    assert update.at == times[-1]


@pytest.mark.parametrize(
    ("syntax", "flux"), [("cii", "IN_DP_E1_CII_16B"), ("ubl", "IN_DP_E1_UBL_INVOICE")]
)
def test_cii_and_ubl_members(sandbox, outlet, syntax, flux):
    settings = sandbox.settings(syntax=syntax)
    receipt = integrated(outlet, sandbox, settings, invoice("invoice-aube"))
    assert receipt.data["syntaxeFlux"] == flux
    assert receipt.data["identifiantFactureCPP"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"references__service_code": None}, "references.service_code", "code service"),
        ({"references__service_code": "DGAEC"}, "references.service_code", "DGAEC"),
        ({"references__engagement": None}, "references.engagement", "engagement"),
        ({"buyer__siret": INACTIVE}, "buyer.siret", INACTIVE),
    ],
)
def test_a_refused_invoice_is_an_error_on_the_field_to_fix(sandbox, outlet, changes, field, words):
    settings = sandbox.settings()
    receipt = send(outlet, settings, invoice("invoice-aube", **changes))
    sandbox.process_flux()
    (update,) = poll(outlet, settings, receipt)
    assert update.status == "EN_ERREUR"
    (finding,) = update.findings
    assert (finding.code, finding.field) == ("chorus.invoice_rejected", field)
    assert words in finding.message and words in update.comment


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("Le numéro de facture F-1 existe déjà pour le fournisseur 81234567600017.", "number"),
        (
            "L'identifiant fournisseur de la demande de paiement (balise : AccountingSupplierParty"
            ".Party.PartyIdentification.ID.value) n'est pas reference dans notre systeme. ",
            "seller.siret",
        ),
        (
            "Le service X de la structure destinataire 22100005200011 n'est pas actif.",
            "references.service_code",
        ),
        (
            "Le numéro d'engagement est obligatoire pour la structure destinataire 1.",
            "references.engagement",
        ),
        ("La structure destinataire 21450877200016 n'est pas active.", "buyer.siret"),
        ("Montants incohérents.", None),
    ],
)
def test_the_platforms_sentences_point_at_a_field(text, field):
    finding = dp_finding({"numeroDP": "F-1", "libelleErreurDP": text})
    assert (finding.code, finding.field) == ("chorus.invoice_rejected", field)
    assert text.strip() in finding.message


def test_a_rejected_file_reports_the_platforms_technical_error(sandbox, outlet):
    settings = sandbox.settings(syntax="cii")
    broken = invoice()
    root = etree.fromstring(render("cii", broken))
    for node in root.iter("{*}TypeCode"):
        node.text = "not-a-code"
    receipt = send(outlet, settings, broken, document=etree.tostring(root))
    sandbox.process_flux()
    (update,) = poll(outlet, settings, receipt)
    assert update.status == "EN_ERREUR"
    assert update.findings and {f.code for f in update.findings} == {"chorus.flux_rejected"}
    assert "ERR_" in update.findings[0].message


def test_a_flux_of_25_invoices_is_followed_through_every_page(sandbox, outlet):
    settings = sandbox.settings()
    invoices = [invoice() for _ in range(25)]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for item in invoices:
            bundle.writestr(f"{item.number}.xml", render("cii", item))
    client = outlet.client(settings)
    flux = client.deposit_flux(archive.getvalue(), "lot.zip", "IN_DP_E1_CII_16B")
    receipts = [
        Receipt(
            outlet="chorus",
            reference=flux["numeroFluxDepot"],
            invoice_id=f"inv-{item.number}",
            data={**invoice_identity(item), "syntaxeFlux": "IN_DP_E1_CII_16B"},
        )
        for item in invoices
    ]
    sandbox.process_flux()
    searches = sandbox.calls("factures/v1/rechercher/fournisseur")
    updates = poll(outlet, settings, *receipts)
    assert sandbox.calls("factures/v1/rechercher/fournisseur") == searches + 3
    assert sorted(u.invoice_id for u in updates) == sorted(r.invoice_id for r in receipts)
    assert {u.status for u in updates} == {"DEPOSEE"}
    assert len({u.data["identifiantFactureCPP"] for u in updates}) == 25


def send_batch(outlet, settings, invoices, attempt=1) -> list:
    """Send several invoices of one member in one call, as the worker does for a batch."""
    items = [
        (item, documents(outlet, settings, item), context(settings, item, attempt))
        for item in invoices
    ]
    results = outlet.send_batch(items)
    for (_, _, ctx), result in zip(items, results, strict=True):
        if isinstance(result, Receipt):
            result.invoice_id = ctx.invoice_id
    return results


def test_a_batch_is_one_archive_in_one_flux_with_a_receipt_per_invoice(sandbox, outlet):
    settings = sandbox.settings()
    invoices = [
        invoice(),
        invoice("invoice-aube"),
        invoice(),
        invoice("invoice-aube", references__service_code="DGAEC"),  # refused by the platform
    ]
    deposits = sandbox.calls("factures/v1/deposer/flux")
    receipts = send_batch(outlet, settings, invoices)
    assert sandbox.calls("factures/v1/deposer/flux") == deposits + 1
    assert len({receipt.reference for receipt in receipts}) == 1
    assert all("lot de 4 factures" in receipt.comment for receipt in receipts)
    assert [receipt.data["number"] for receipt in receipts] == [i.number for i in invoices]
    flux = sandbox.control.get(f"/flux/{receipts[0].reference}").json()
    assert flux["file_name"] == "in_dp_e2_cii_facturx_lot_factures.tar.gz"
    sandbox.process_flux()
    histories = sandbox.calls("factures/v1/consulter/historique")
    updates = {update.invoice_id: update for update in poll(outlet, settings, *receipts)}
    assert [updates[r.invoice_id].status for r in receipts] == ["DEPOSEE"] * 3 + ["EN_ERREUR"]
    assert updates[receipts[3].invoice_id].findings[0].field == "references.service_code"
    assert all(updates[r.invoice_id].data["identifiantFactureCPP"] for r in receipts[:3])
    assert sandbox.calls("factures/v1/consulter/historique") == histories  # the search said all
    assert [sandbox.deposits(item.number) for item in invoices] == [1, 1, 1, 1]


def test_a_batch_leaves_out_what_the_platform_has_and_spares_the_others(sandbox, outlet):
    settings = sandbox.settings()
    earlier, fresh, broken = invoice(), invoice(), invoice()
    first = integrated(outlet, sandbox, settings, earlier)

    def cannot_render(*_):
        raise ValueError("rendu impossible")

    broken_context = context(settings, broken)
    broken_context.render = cannot_render
    results = outlet.send_batch(
        [
            (earlier, documents(outlet, settings, earlier), context(settings, earlier, 2)),
            (fresh, documents(outlet, settings, fresh), context(settings, fresh)),
            (broken, [], broken_context),
        ]
    )
    assert "Déjà déposée" in results[0].comment
    assert results[0].data["identifiantFactureCPP"] == first.data["identifiantFactureCPP"]
    assert results[1].status == "DEPOSEE" and results[1].reference != first.reference
    assert "lot" not in results[1].comment  # alone in its flux: a file, not an archive
    assert isinstance(results[2], ValueError)
    counts = [sandbox.deposits(item.number) for item in (earlier, fresh, broken)]
    assert counts == [1, 1, 0]


def test_batches_are_split_within_the_platforms_limits():
    def pending(size: int) -> Pending:
        return Pending(0, invoice(), b"x" * size, context({}, invoice()))

    megabyte = 1024 * 1024
    sizes = [4 * megabyte, 4 * megabyte, 4 * megabyte, 11 * megabyte, 1]
    chunks = list(flux_chunks([pending(size) for size in sizes]))
    assert [[len(p.content) for p in chunk] for chunk in chunks] == [
        sizes[:2],
        sizes[2:3],
        sizes[3:4],
        sizes[4:],
    ]
    assert [len(chunk) for chunk in flux_chunks([pending(1)] * 501)] == [500, 1]
    names = unique_names(["facture_A_1.xml", "facture_A_1.xml", "facture_B.pdf"])
    assert names == ["facture_A_1.xml", "facture_A_1_2.xml", "facture_B.pdf"]


def test_a_platform_that_cannot_answer_makes_the_poll_transient(sandbox, outlet):
    settings = sandbox.settings()
    receipt = send(outlet, settings, invoice())
    outlet.client(settings).token()
    sandbox.faults(error_rate=1.0, paths=["/cpro/transverses/"])
    try:
        with pytest.raises(TransientOutletError):
            poll(outlet, settings, receipt)
    finally:
        sandbox.clear_faults()


# --- never deposit twice --------------------------------------------------------------------


def test_an_uncertain_deposit_is_found_again_not_repeated(sandbox):
    clock = Clock()
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        outlet = ChorusOutlet({"settle_seconds": 600, "retry_delay": 0.01}, http=http, clock=clock)
        settings = sandbox.settings()
        item = invoice()
        outlet.client(settings).token()
        sandbox.faults(
            timeout_rate=1.0,
            timeout_seconds=1.0,
            timeout_mode="after",
            paths=["/cpro/factures/v1/deposer/flux"],
        )
        try:
            with pytest.raises(TransientOutletError) as caught:
                send(outlet, settings, item)
        finally:
            sandbox.clear_faults()
        state = caught.value.state  # kept with the invoice by the core
        assert state == {UNCERTAIN_SINCE: clock.now.isoformat()}
        assert sandbox.deposits(item.number) == 1  # it did reach the platform
        # Another worker process (another outlet instance) knows it from the state alone.
        other = ChorusOutlet({"settle_seconds": 600, "retry_delay": 0.01}, http=http, clock=clock)
        clock.now += timedelta(seconds=599)
        with pytest.raises(TransientOutletError, match="attend") as waiting:
            send(other, settings, item, attempt=2, state=state)  # not integrated yet: wait
        assert not waiting.value.state  # the first uncertain time stays as it was
        sandbox.process_flux()
        receipt = send(other, settings, item, attempt=3, state=state)
        assert receipt.data["identifiantFactureCPP"] and "Déjà déposée" in receipt.comment
        assert sandbox.deposits(item.number) == 1


def test_a_deposit_lost_before_the_platform_is_made_once_the_wait_is_over(sandbox):
    clock = Clock()
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        outlet = ChorusOutlet({"settle_seconds": 600, "retry_delay": 0.01}, http=http, clock=clock)
        settings = sandbox.settings()
        item = invoice()
        outlet.client(settings).token()
        sandbox.faults(
            timeout_rate=1.0,
            timeout_seconds=1.0,
            timeout_mode="before",
            paths=["/cpro/factures/v1/deposer/flux"],
        )
        try:
            with pytest.raises(TransientOutletError) as caught:
                send(outlet, settings, item)
        finally:
            sandbox.clear_faults()
        state = caught.value.state
        sandbox.process_flux()
        with pytest.raises(TransientOutletError):
            send(outlet, settings, item, attempt=2, state=state)
        clock.now += timedelta(seconds=601)
        receipt = send(outlet, settings, item, attempt=3, state=state)
        assert "identifiantFactureCPP" not in receipt.data  # a new deposit
        assert sandbox.deposits(item.number) == 1


def test_a_certain_failure_leaves_no_wait(sandbox):
    with httpx.Client(timeout=httpx.Timeout(5.0)) as http:
        outlet = ChorusOutlet({"settle_seconds": 600, "retry_delay": 0.01}, http=http)
        settings = sandbox.settings()
        item = invoice()
        outlet.client(settings).token()
        sandbox.faults(fail_next=1, error_statuses=[429], paths=["/cpro/factures/v1/deposer/flux"])
        try:
            with pytest.raises(TransientOutletError) as caught:
                send(outlet, settings, item)
        finally:
            sandbox.clear_faults()
        assert not caught.value.state  # a 429 was not carried out: nothing to wait for
        receipt = send(outlet, settings, item, attempt=2)
        assert receipt.status == "DEPOSEE" and sandbox.deposits(item.number) == 1


def test_another_invoice_under_the_same_number_is_a_duplicate(sandbox, outlet):
    settings = sandbox.settings()
    first = invoice()
    integrated(outlet, sandbox, settings, first)
    other = invoice("invoice-aube")
    other.number = first.number
    with pytest.raises(PermanentOutletError) as caught:
        send(outlet, settings, other, attempt=2)
    assert [f.code for f in caught.value.findings] == ["invoice.duplicate"]
    assert sandbox.deposits(first.number) == 1


def test_a_second_flux_refused_as_duplicate_points_to_the_first(sandbox, outlet):
    settings = sandbox.settings()
    item = invoice()
    first = integrated(outlet, sandbox, settings, item)
    second = send(outlet, settings, item)  # as after a deposit whose answer was lost
    sandbox.process_flux()
    (update,) = poll(outlet, settings, second)
    assert update.status == "DEPOSEE"
    assert update.data["identifiantFactureCPP"] == first.data["identifiantFactureCPP"]
    assert update.data["numeroFluxDepot"] == first.reference


def test_with_faults_and_tokens_expiring_each_invoice_is_deposited_once(sandbox):
    """The worker's loop in miniature: retry until a receipt, the platform misbehaving."""
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        outlet = ChorusOutlet(
            {"settle_seconds": 0, "retry_delay": 0.01}, http=http, tokens=TokenCache()
        )
        settings = sandbox.settings()
        items = [invoice() for _ in range(10)]
        sandbox.faults(error_rate=0.2, timeout_rate=0.15, timeout_seconds=0.6, seed=7)
        receipts = {}
        try:
            for attempt in range(1, 30):
                if attempt % 4 == 0:
                    sandbox.control.post("/tokens/expire")
                for item in items:
                    if item.number in receipts:
                        continue
                    try:
                        receipts[item.number] = send(outlet, settings, item, attempt)
                    except TransientOutletError:
                        pass
                sandbox.process_flux()  # the platform processes while the worker waits
                if len(receipts) == len(items):
                    break
            injected = sandbox.control.get("/faults").json()["injected"]
        finally:
            sandbox.clear_faults()
        assert injected["error"] > 0 and injected["timeout"] > 0
        assert len(receipts) == len(items)
        assert [sandbox.deposits(item.number) for item in items] == [1] * len(items)


# --- corrective actions ---------------------------------------------------------------------


def test_recycle_sends_the_invoice_to_the_corrected_recipient(sandbox, outlet):
    settings = sandbox.settings()
    item = invoice()
    receipt = integrated(outlet, sandbox, settings, item)
    move(sandbox, receipt, "A_RECYCLER", "Mauvais destinataire : facturer le département de l'Aube")
    (update,) = poll(outlet, settings, receipt)
    assert update.status == "A_RECYCLER" and "Aube" in update.comment
    fixed = invoice("invoice-aube")
    fixed.number = item.number
    recycled = outlet.recycle(receipt, fixed, context(settings, fixed))
    assert recycled.status == "DEPOSEE" and recycled.reference == receipt.reference
    detail = sandbox.control.get(f"/invoices/{receipt.data['identifiantFactureCPP']}").json()
    assert (detail["recipient"], detail["service"]) == (AUBE, "DFCG")
    assert detail["engagement"] == fixed.references.engagement
    (update,) = poll(outlet, settings, receipt)
    assert [code for code, _, _ in update.history][-2:] == ["A_RECYCLER", "DEPOSEE"]


def test_an_action_needs_the_platforms_invoice_id(sandbox, outlet):
    settings = sandbox.settings()
    receipt = send(outlet, settings, invoice())
    with pytest.raises(PermanentOutletError, match="pas encore intégré"):
        outlet.recycle(receipt, invoice(), context(settings, invoice()))


def test_complete_adds_the_missing_documents(sandbox, outlet):
    settings = sandbox.settings()
    item = invoice()
    receipt = integrated(outlet, sandbox, settings, item)
    move(sandbox, receipt, "MISE_A_DISPOSITION")
    move(sandbox, receipt, "SUSPENDUE", "Bon de livraison manquant")
    attachment = Document("bon-de-livraison.pdf", "application/pdf", render("pdf", item))
    done = outlet.complete(
        receipt, [attachment], "Voici le bon de livraison", context(settings, item)
    )
    assert done.status == "COMPLETEE"
    (update,) = poll(outlet, settings, receipt)
    assert update.status == "COMPLETEE"
    assert [code for code, _, _ in update.history][-2:] == ["SUSPENDUE", "COMPLETEE"]
    with pytest.raises(ChorusBusinessError) as caught:
        outlet.complete(receipt, [attachment], "encore", context(settings, item))
    assert caught.value.code == 20002


def test_attachments_are_checked_before_anything_is_sent(sandbox, outlet):
    settings = sandbox.settings()
    receipt = Receipt(outlet="chorus", reference="CPP", data={"identifiantFactureCPP": 1})
    uploads = sandbox.calls("transverses/v1/ajouter/fichier")
    bad = [
        Document("photo.exe", "application/octet-stream", b"x"),
        Document("x" * 47 + ".pdf", "application/pdf", b"%PDF"),
        Document("vide.pdf", "application/pdf", b""),
    ]
    with pytest.raises(PermanentOutletError) as caught:
        outlet.complete(receipt, bad, "pièces", context(settings, invoice()))
    assert [(f.code, f.field) for f in caught.value.findings] == [
        ("attachment.invalid", f"attachments[{index}]") for index in range(3)
    ]
    assert sandbox.calls("transverses/v1/ajouter/fichier") == uploads


# --- health ---------------------------------------------------------------------------------


def test_health_checks_token_account_and_password_expiry(sandbox, outlet):
    settings = sandbox.settings()
    login = settings["login"]
    today = datetime.now(UTC).date()
    try:
        sandbox.control.patch(
            f"/accounts/{login}",
            json={"password_expires": (today + timedelta(days=90)).isoformat()},
        )
        healthy = outlet.health(settings)
        assert healthy["ok"] and healthy["token"] == healthy["technical_account"] == "ok"
        assert healthy["password_expires_in_days"] in (89, 90, 91)
        assert "warnings" not in healthy
        soon = today + timedelta(days=12)
        sandbox.control.patch(f"/accounts/{login}", json={"password_expires": soon.isoformat()})
        warned = outlet.health(settings)
        assert warned["ok"] and warned["password_expires"] == soon.isoformat()
        assert soon.strftime("%d/%m/%Y") in warned["warnings"][0]
    finally:
        sandbox.control.patch(f"/accounts/{login}", json={"password_expires": None})
    refused = outlet.health(sandbox.settings(password="wrong"))
    assert not refused["ok"] and "compte technique" in refused["error"]
    assert not outlet.health({"environment": "production"})["ok"]


def test_a_worker_dying_during_a_deposit_leaves_a_wait_not_a_second_deposit(sandbox):
    clock = Clock()
    with httpx.Client(timeout=httpx.Timeout(5.0)) as http:
        outlet = ChorusOutlet({"settle_seconds": 600, "retry_delay": 0.01}, http=http, clock=clock)
        settings = sandbox.settings()
        item = invoice()
        kept: dict = {}  # what the core commits when the outlet calls context.remember
        ctx = context(settings, item)
        ctx.remember = kept.update
        outlet.send(item, documents(outlet, settings, item), ctx)  # ... and the worker dies here
        assert kept == {UNCERTAIN_SINCE: clock.now.isoformat()}
        clock.now += timedelta(seconds=120)  # the lease expired; another worker takes over
        with pytest.raises(TransientOutletError, match="attend"):
            send(outlet, settings, item, attempt=2, state=kept)  # not yet processed: wait
        assert sandbox.deposits(item.number) == 1
        sandbox.process_flux()
        receipt = send(outlet, settings, item, attempt=3, state=kept)
        assert "Déjà déposée" in receipt.comment
        assert sandbox.deposits(item.number) == 1
