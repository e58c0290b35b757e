"""The web pages in a real browser: Debian's Chromium driven by Playwright, against
``facture-gateway run`` (gunicorn, the worker, the Chorus Pro and Dilifac sandboxes) started
once for the session in a home of its own, on loopback.

Every page a test visits is screenshotted under ``var/screenshots/`` and checked with
axe-core (the script ``axe-playwright-python`` ships): no serious or critical violation.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA, free_port
from tests.integration.test_server import wait_for, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: As the machine's notes advise: no background connections from a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLE = DATA / "json" / "invoice-seine-maritime.json"
NUMBERS = itertools.count(1)
#: The default configuration, with the statuses followed every half second.
FAST = {"poll_interval = 1.0": "poll_interval = 0.2", "poll_fast = 10": "poll_fast = 0.5"}


def distinct_ports(count: int) -> list[int]:
    """Free ports, all different (two calls of free_port may give the same one)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class RunningGateway:
    """``facture-gateway run`` in a temporary home, and what tests need to drive it."""

    def __init__(self, home: Path):
        self.home = home
        config = (ROOT / "conf" / "gateway.toml").read_text()
        for old, new in FAST.items():
            assert old in config, old
            config = config.replace(old, new)
        (home / "gateway.toml").write_text(config)
        self.port, self.sandbox_port, dilifac_port, pa_port = distinct_ports(4)
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
        env.update(
            GATEWAY_HOME=str(home),
            GATEWAY_CONFIG=str(home / "gateway.toml"),
            PORT=str(self.port),
            SANDBOX_PORT=str(self.sandbox_port),
            DILIFAC_SANDBOX_PORT=str(dilifac_port),
            PA_SANDBOX_PORT=str(pa_port),
            GATEWAY_WEB_WORKERS="2",
            PYTHONUNBUFFERED="1",
        )
        self.log = home / "run.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_healthy(self.base_url, self.process, self.logs, timeout=90)
        except AssertionError:
            self.close()  # no fixture will: it never got its object
            raise
        self.api = httpx.Client(base_url=self.base_url, timeout=30)
        self.sandbox = httpx.Client(
            base_url=f"http://127.0.0.1:{self.sandbox_port}/_sandbox", timeout=30
        )
        var = home / "var"
        self.admin_key = (var / "admin-api-key").read_text().strip()
        self.demo_key = (var / "demo-api-key").read_text().strip()
        self.demo_password = (var / "demo-password").read_text().strip()
        self.demo = self.get("/v1/members", self.admin_key)["members"][0]
        # Before any page asks Chorus Pro (the answers are kept a minute per web worker):
        # the demo's technical account password expires in 20 days.
        self.sandbox_credentials = json.loads((var / "sandbox-credentials.json").read_text())
        self.password_expires = date.today() + timedelta(days=20)
        moved = self.sandbox.patch(
            f"/accounts/{self.sandbox_credentials['login']}",
            json={"password_expires": self.password_expires.isoformat()},
        )
        assert moved.status_code == 200, moved.text

    def logs(self) -> str:
        return self.log.read_text()[-5000:] if self.log.exists() else ""

    def close(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)  # `run` stops its children itself
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    # --- the REST API, as a vendor's software would call it ------------------------------

    def get(self, path: str, key: str, **params) -> dict:
        result = self.api.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
        assert result.status_code == 200, result.text
        return result.json()

    def new_member(self, name: str, siret: str) -> dict:
        result = self.api.post(
            "/v1/members",
            json={"name": name, "siret": siret},
            headers={"Authorization": f"Bearer {self.admin_key}"},
        )
        assert result.status_code == 201, result.text
        return result.json()

    def submit(self, key: str | None = None, **changes) -> tuple[str, str]:
        """Submit the guide's sample under a new number; return its id and number."""
        document = json.loads(SAMPLE.read_text())
        document["number"] = f"WEB-{os.getpid() % 1000:03d}-{next(NUMBERS):04d}"
        document.update(changes)
        result = self.api.post(
            "/v1/invoices",
            json=document,
            headers={"Authorization": f"Bearer {key or self.demo_key}"},
        )
        assert result.status_code == 202, result.text
        return result.json()["id"], document["number"]

    def status(self, invoice_id: str, key: str | None = None) -> str:
        return self.get(f"/v1/invoices/{invoice_id}", key or self.demo_key)["status"]

    def wait_status(self, invoice_id: str, status: str, timeout: float = 30) -> None:
        wait_for(
            lambda: self.status(invoice_id) == status,
            timeout,
            f"invoice {invoice_id} to be {status}",
            interval=0.2,
        )

    # --- the buyer, played on the Chorus Pro sandbox ---------------------------------------

    def platform_invoice(self, number: str) -> dict | None:
        self.sandbox.post("/process").raise_for_status()
        found = self.sandbox.get("/invoices", params={"numero": number}).json()["invoices"]
        return found[0] if found else None

    def sent_back(self, status: str, reason: str) -> tuple[str, str]:
        """Submit an invoice, let it reach the platform, and play the buyer sending it back
        with ``status``; return the gateway's id and the number once the gateway knows."""
        invoice_id, number = self.submit()
        on_platform = wait_for(
            lambda: self.platform_invoice(number), 30, f"{number} on the platform", 0.2
        )
        moved = self.sandbox.post(
            f"/invoices/{on_platform['id']}/status", json={"status": status, "reason": reason}
        )
        assert moved.status_code == 200, moved.text
        self.wait_status(invoice_id, status)
        return invoice_id, number


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    running = RunningGateway(tmp_path_factory.mktemp("web-home"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    """A fresh browser (no cookies) on the gateway, the size of a tablet on the counter."""
    context = browser.new_context(
        base_url=site.base_url, viewport={"width": 1024, "height": 768}, locale="fr-FR"
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page, siret: str | None = None, password: str | None = None, key: str | None = None):
    """Sign in through the form, by SIRET and password or with an API key."""
    if key is not None:
        page.goto("/app/connexion?mode=cle")
        page.get_by_label("Clé d'API").fill(key)
    else:
        page.goto("/app/connexion")
        page.get_by_label("SIRET de la librairie").fill(siret)
        page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r".*/app/(a-traiter|admin)$"))


def sign_in_demo(page, site: RunningGateway) -> None:
    sign_in(page, siret=site.demo["siret"], password=site.demo_password)


def axe_script() -> str:
    return (resources.files("axe_playwright_python") / "axe.min.js").read_text()


def check_page(page, name: str) -> None:
    """Screenshot the page as ``var/screenshots/<name>.png``, then check it with axe-core:
    no serious nor critical violation of WCAG 2.1 A/AA."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.evaluate(axe_script())  # through the devtools: the pages' CSP allows no inline script
    report = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', "
        "values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in report["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{name}: " + "; ".join(serious)
