"""The daily digest, received by a real SMTP server (aiosmtpd) on loopback: the invoices
needing action with the buyer's reason and what to do, what was paid, what changed, the
directory's changes and the credentials to renew; HTML escaped; sent once a day."""

from __future__ import annotations

from gateway import lifecycle
from gateway.config import SmtpConfig
from gateway.digests import DAILY, Digest, DigestBuilder
from tests.conftest import Clock, Gateway, example, make_config, statements_on

REASON = "Le service <DFCG> & l'engagement « EJ-12 » ne correspondent pas"


def test_the_daily_digest_lists_what_needs_action_with_reasons_and_what_to_do(
    tmp_path, sqlite_url, smtp
):
    port, inbox = smtp
    clock = Clock()  # 1 December 2026, 10:00 in Paris
    smtp_settings = SmtpConfig(host="127.0.0.1", port=port, sender="passerelle@asso.example")
    gateway = Gateway(make_config(tmp_path, sqlite_url, smtp=smtp_settings), clock=clock)
    try:
        member = gateway.new_member()
        settings = {
            "digests": {"daily": True, "recipients": ["compta@quais.example"]},
            "chorus": {"password_expires": "2026-12-20"},
        }
        patched = gateway.client.simulate_patch(
            f"/v1/members/{member['id']}", headers=member["headers"], json={"settings": settings}
        )
        assert patched.status_code == 200, patched.json
        for number in ("FA-1", "FA-2", "FA-3"):
            doc = {**example("invoice-seine-maritime"), "number": number}
            assert gateway.post_invoice(member, doc).status_code == 202
        worker = gateway.worker(clock=clock)
        worker.run_once()
        store = gateway.store
        rows = {row["number"]: row for row in store.list_invoices(member["id"])}
        recorder = lifecycle.Recorder(store, gateway.services.registry.pm)
        with store.begin() as conn:
            recorder.change(conn, rows["FA-1"], lifecycle.A_RECYCLER, clock.now, REASON)
            recorder.change(conn, rows["FA-2"], lifecycle.MISE_EN_PAIEMENT, clock.now, None)
            store.add_event(
                conn,
                member["id"],
                "directory.changed",
                {
                    "siret": "22760540900019",
                    "name": "DEPARTEMENT DE LA SEINE MARITIME",
                    "changes": ["service FACTURES_PUBLIQUES : ACTIF → SUPPRIME"],
                },
            )

        worker.scheduler.run_due()
        assert inbox.messages == []  # the daily digest leaves at 7:00, Paris time
        clock.advance(days=1)
        worker.scheduler.run_due()
        worker.scheduler.run_due()  # once a day, however often the worker looks
        assert len(inbox.messages) == 1
        message = inbox.messages[0]
        assert inbox.recipients == [["compta@quais.example"]]
        assert message["From"] == "passerelle@asso.example"
        assert "1 facture(s) demandent votre action" in message["Subject"]
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        html = message.get_body(("html",)).get_content()

        todo = text.split("À faire\n", 1)[1].split("\n\n", 1)[0]
        assert "Facture FA-1 (DEPARTEMENT DE LA SEINE MARITIME) : A_RECYCLER" in todo
        assert f"Motif : {REASON}" in todo
        assert lifecycle.EXPLANATIONS[lifecycle.A_RECYCLER] in todo
        assert "FA-2" not in todo and "FA-3" not in todo
        paid = text.split("Mises en paiement\n", 1)[1].split("\n\n", 1)[0]
        assert paid == "- Facture FA-2 (DEPARTEMENT DE LA SEINE MARITIME) : 97.65 €"
        assert "facture FA-1 : DEPOSEE → A_RECYCLER" in text
        assert "service FACTURES_PUBLIQUES : ACTIF → SUPPRIME" in text
        assert "« password_expires » expire le 20/12/2026 (dans 18 jour(s))" in text
        totals = text.split("Factures par statut\n", 1)[1]
        assert totals.splitlines() == [
            "- A_RECYCLER : 1",
            "- DEPOSEE : 1",
            "- MISE_EN_PAIEMENT : 1",
        ]

        assert "Le service &lt;DFCG&gt; &amp; l&#x27;engagement" in html
        assert "<DFCG>" not in html
        assert "A_RECYCLER" in html and "&lt;" not in html.split("<body>")[0]
    finally:
        gateway.store.dispose()


def test_no_digest_without_opt_in(tmp_path, sqlite_url, smtp):
    port, inbox = smtp
    clock = Clock()
    smtp_settings = SmtpConfig(host="127.0.0.1", port=port)
    gateway = Gateway(make_config(tmp_path, sqlite_url, smtp=smtp_settings), clock=clock)
    try:
        member = gateway.new_member()
        doc = {**example("invoice-seine-maritime"), "number": "FA-1"}
        assert gateway.post_invoice(member, doc).status_code == 202
        worker = gateway.worker(clock=clock)
        clock.advance(days=8)
        worker.scheduler.run_due()
        assert inbox.messages == []
        assert gateway.store.get_job("digest.daily")["next_run_at"] > clock.now
    finally:
        gateway.store.dispose()


def test_a_digest_takes_the_same_queries_whatever_the_invoices_in_it(tmp_path, sqlite_url):
    clock = Clock()
    gateway = Gateway(make_config(tmp_path, sqlite_url), clock=clock)
    try:
        member = gateway.new_member()
        store = gateway.store
        builder = DigestBuilder(store, gateway.config.digests)
        recorder = lifecycle.Recorder(store, gateway.services.registry.pm)

        def digest_after(count: int) -> tuple[Digest, int]:
            """Send ``count`` more invoices, reject one and pay one of them, build the digest."""
            numbers = [f"FA-{count}-{index}" for index in range(count)]
            for number in numbers:
                doc = {**example("invoice-seine-maritime"), "number": number}
                assert gateway.post_invoice(member, doc).status_code == 202
            gateway.worker(clock=clock).run_once()
            rows = {row["number"]: row for row in store.list_invoices(member["id"])}
            with store.begin() as conn:
                for number in numbers[: count // 2]:
                    recorder.change(conn, rows[number], lifecycle.A_RECYCLER, clock.now, REASON)
                for number in numbers[count // 2 :]:
                    recorder.change(conn, rows[number], lifecycle.MISE_EN_PAIEMENT, clock.now, None)
            with statements_on(store.engine) as statements:
                digest = builder.build(store.get_member(member["id"]), {}, DAILY, clock.now)
            return digest, len(statements)

        small, small_queries = digest_after(2)
        large, large_queries = digest_after(8)
        assert (len(small.needs_action), len(small.paid)) == (1, 1)
        assert (len(large.needs_action), len(large.paid)) == (5, 5)  # the first two's too
        assert {line["reason"] for line in large.needs_action} == {REASON}
        assert small_queries == large_queries
    finally:
        gateway.store.dispose()
