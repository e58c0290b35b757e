"""Invoices left in the bookseller's hands (``A_DEPOSER``: to upload on the portal,
``A_IMPRIMER``: to print) longer than ``[digests] deposit_reminder_days`` are recalled in
the daily digest, with how long they have waited; received by aiosmtpd on loopback."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway import outbound
from gateway.config import SmtpConfig
from tests.conftest import Clock, Gateway, example, make_config


def test_the_digest_recalls_invoices_waiting_for_an_upload_or_a_print(
    tmp_path,
    sqlite_url,
    smtp,  # noqa: F811
    sandbox,
):
    port, inbox = smtp
    clock = Clock()  # 1 December 2026, 10:00 in Paris
    sandbox_port = urlsplit(sandbox.url).port
    config = make_config(
        tmp_path,
        sqlite_url,
        smtp=SmtpConfig(host="127.0.0.1", port=port, sender="passerelle@asso.example"),
        outbound_hosts=(f"127.0.0.1:{sandbox_port}",),
    )
    assert config.digests.deposit_reminder_days == 3  # conf/gateway.toml
    config.channels = {**config.channels, "manual_pdf": "manual_pdf", "paper": "paper"}
    config.plugins = {
        **config.plugins,
        "directory_chorus": sandbox.settings(),
        "manual_pdf": {},
        "paper": {},
    }
    gateway = Gateway(config, clock=clock)
    try:
        member = gateway.new_member()
        patched = gateway.client.simulate_patch(
            f"/v1/members/{member['id']}",
            headers=member["headers"],
            json={"settings": {"digests": {"daily": True, "recipients": ["compta@quais.ex"]}}},
        )
        assert patched.status_code == 200, patched.json
        for siret, channel in (("22760540900019", "manual_pdf"), ("22100005200011", "paper")):
            put = gateway.client.simulate_put(
                f"/v1/customers/{siret}",
                json={"name": channel, "channel": channel},
                headers=member["headers"],
            )
            assert put.status_code == 201, put.json
        for name, number in (("invoice-seine-maritime", "MP-1"), ("invoice-aube", "PA-1")):
            posted = gateway.post_invoice(member, {**example(name), "number": number})
            assert posted.status_code == 202, posted.json
        worker = gateway.worker(clock=clock)
        assert worker.run_once() == 2
        statuses = {
            row["number"]: row["status"] for row in gateway.store.list_invoices(member["id"])
        }
        assert statuses == {"MP-1": "A_DEPOSER", "PA-1": "A_IMPRIMER"}

        worker.scheduler.run_due()  # plans the daily digest: 7:00, Paris time
        assert inbox.messages == []
        clock.advance(days=1)  # 2 December: waiting for a day
        worker.scheduler.run_due()
        assert len(inbox.messages) == 1
        first = inbox.messages[0].get_body(("plain",)).get_content()
        assert "2 facture(s) demandent votre action" in inbox.messages[0]["Subject"]
        assert "Rappels" not in first

        clock.advance(days=3)  # 5 December: waiting for four days
        worker.scheduler.run_due()
        assert len(inbox.messages) == 2
        text = inbox.messages[1].get_body(("plain",)).get_content().replace("\r\n", "\n")
        reminders = text.split("Rappels\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert reminders == [
            "- Facture MP-1 (DEPARTEMENT DE LA SEINE MARITIME) : à déposer sur le portail "
            "Chorus Pro depuis 4 jour(s) (le 01/12/2026)",
            "- Facture PA-1 (DEPARTEMENT DE L'AUBE) : à imprimer et poster (lot "
            "d'impression) depuis 4 jour(s) (le 01/12/2026)",
        ]
        html = inbox.messages[1].get_body(("html",)).get_content()
        assert "<h2>Rappels</h2>" in html and "à déposer sur le portail" in html
    finally:
        gateway.store.dispose()
        outbound.configure(None)
