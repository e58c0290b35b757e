"""Outbound URLs: a member's settings reach only the hosts the administrator allows.

A listener on 127.0.0.1 that is not allowed stands for the association's internal
services: no member setting makes the gateway call it, while the Chorus Pro sandbox,
allowed by its port, still takes invoices.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from gateway import outbound
from gateway.outbound import OutboundPolicy, OutboundRefused, outbound_client
from tests.conftest import example, sold_by

MARCHE = "79345612000013"


class Listener:
    """An HTTP server on loopback recording what reaches it; ``redirect`` sends callers on."""

    def __init__(self, redirect: str | None = None):
        self.paths: list[str] = []
        recorded, target = self.paths, redirect

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                recorded.append(self.path)
                self.send_response(302 if target else 200)
                if target:
                    self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap():
    listener = Listener()
    yield listener
    listener.stop()


def trap_settings(sandbox, trap) -> list[dict]:
    """Every way a member's settings could point the worker at the trap."""
    host = urlsplit(trap.url).port
    return [
        sandbox.settings(token_url=f"{trap.url}/api/oauth/token"),
        sandbox.settings(api_url=trap.url),
        sandbox.settings(api_url=f"http://localhost:{host}"),
        sandbox.settings(api_url=f"http://[::1]:{host}"),
        sandbox.settings(api_url=f"ftp://127.0.0.1:{host}"),
    ]


def test_settings_naming_a_host_not_allowed_are_refused_when_saved(guarded, sandbox, trap):
    member = guarded.new_member()
    for settings in trap_settings(sandbox, trap):
        for headers in (member["headers"], guarded.admin()):
            result = guarded.client.simulate_patch(
                f"/v1/members/{member['id']}",
                json={"settings": {"chorus": settings}},
                headers=headers,
            )
            assert result.status_code == 422, settings
            (error,) = result.json["errors"]
            assert error["code"] == "setting.host_not_allowed"
            assert error["field"] in ("settings.chorus.token_url", "settings.chorus.api_url")
    created = guarded.client.simulate_post(
        "/v1/members",
        json={"name": "Piège", "settings": {"chorus": trap_settings(sandbox, trap)[1]}},
        headers=guarded.admin(),
    )
    assert created.status_code == 422
    assert trap.paths == []


def test_the_allowed_sandbox_takes_invoices_and_a_stored_trap_is_refused_at_send(
    guarded, sandbox, trap
):
    quais = guarded.new_member()
    saved = guarded.client.simulate_patch(
        f"/v1/members/{quais['id']}",
        json={"settings": {"chorus": sandbox.settings()}},
        headers=quais["headers"],
    )
    assert saved.status_code == 200, saved.json
    marche = guarded.new_member("Librairie du Marché", MARCHE)
    # Saved before the administrator narrowed the list: the worker checks again.
    guarded.store.update_member(
        marche["id"],
        settings_encrypted=guarded.services.secretbox.seal(
            {"chorus": sandbox.settings(token_url=f"{trap.url}/api/oauth/token")}
        ),
    )
    sent = guarded.post_invoice(quais, example("invoice-seine-maritime"))
    held = guarded.post_invoice(marche, sold_by(example("invoice-seine-maritime"), MARCHE))
    assert (sent.status_code, held.status_code) == (202, 202), (sent.json, held.json)
    guarded.worker().run_once()
    assert guarded.get_invoice(quais, sent.json["id"])["status"] == "DEPOSEE"
    refused = guarded.get_invoice(marche, held.json["id"])
    assert refused["status"] == "EN_ERREUR"
    assert "settings.chorus.token_url" in refused["history"][-1]["comment"]
    assert trap.paths == []


def test_the_client_checks_every_hop_of_a_redirect(trap):
    redirector = Listener(redirect=f"{trap.url}/secret")
    try:
        outbound.configure([f"127.0.0.1:{urlsplit(redirector.url).port}"])
        with outbound_client(5.0) as client:
            assert client.get(redirector.url).status_code == 302  # not followed by itself
            with pytest.raises(OutboundRefused):
                client.get(redirector.url, follow_redirects=True)
    finally:
        outbound.configure(None)
        redirector.stop()
    assert redirector.paths == ["/", "/"]
    assert trap.paths == []


def test_a_listed_name_resolving_to_a_private_address_needs_that_address_listed():
    with pytest.raises(OutboundRefused, match="interne"):
        OutboundPolicy(frozenset({"localhost"})).check("http://localhost:8080/")
    # localhost may resolve to ::1 as well
    OutboundPolicy(frozenset({"localhost", "127.0.0.1", "::1"})).check("http://localhost:8080/")
    listed = frozenset({"localhost:8080", "127.0.0.1:8080", "[::1]:8080"})
    OutboundPolicy(listed).check("http://localhost:8080/")
    with pytest.raises(OutboundRefused):
        OutboundPolicy(frozenset({"127.0.0.1:8080"})).check("http://127.0.0.1:8081/")
    with pytest.raises(OutboundRefused, match="« settings.x.api_url »"):
        OutboundPolicy(frozenset()).check("https://api.piste.gouv.fr", "settings.x.api_url")
