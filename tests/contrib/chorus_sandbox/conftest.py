"""Fixtures for the Chorus Pro sandbox tests: a real server on loopback, a client, documents."""

from __future__ import annotations

import base64
import io
import string
import tarfile
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import facturx
import httpx
import pytest
from fpdf import FPDF

from contrib.chorus_sandbox import create_app
from contrib.chorus_sandbox.checks import Validator
from contrib.chorus_sandbox.seed import DEMO_SUPPLIERS, SEINE_MARITIME
from contrib.chorus_sandbox.server import serve

DATA = Path(__file__).parent / "data"
SELLER = DEMO_SUPPLIERS[0]
SYNTAX = {
    "cii": "IN_DP_E1_CII_16B",
    "ubl": "IN_DP_E1_UBL_INVOICE",
    "facturx": "IN_DP_E2_CII_FACTURX",
}


class FakeClock:
    """The sandbox's time, moved by the tests."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Documents:
    """Invoices built from the small CII and UBL templates in data/."""

    templates = {
        "cii": (DATA / "invoice-cii.xml").read_text(encoding="utf-8"),
        "ubl": (DATA / "invoice-ubl.xml").read_text(encoding="utf-8"),
    }

    def xml(
        self,
        number: str,
        buyer: str = SEINE_MARITIME,
        *,
        syntax: str = "cii",
        service: str | None = None,
        engagement: str | None = "EJ2026000815",
        seller: str = SELLER,
        buyer_layout: str = "siret",
        grand_total: str = "40.51",
    ) -> bytes:
        cii = syntax != "ubl"

        def element(tag: str, value: str, prefix: str = "ram" if cii else "cbc") -> str:
            return f"\n      <{prefix}:{tag}>{value}</{prefix}:{tag}>"

        order = (
            element(
                "BuyerOrderReferencedDocument",
                f"<ram:IssuerAssignedID>{engagement}</ram:IssuerAssignedID>",
            )
            if cii
            else element("OrderReference", f"<cbc:ID>{engagement}</cbc:ID>", "cac")
        )
        values = {
            "number": number,
            "type_code": "380",
            "seller_siret": seller,
            "seller_siren": seller[:9],
            "seller_name": "Librairie des Quais",
            "buyer_name": "Collectivité",
            "grand_total": grand_total,
            "buyer_reference": element("BuyerReference", service) if service else "",
            "order_reference": order if engagement else "",
            "buyer_global_id": "",
            "buyer_legal_scheme": "0009",
            "buyer_legal_id": buyer,
        }
        if buyer_layout == "siren+siret":  # the 2026 layout: SIREN in BT-47, SIRET in BT-46
            values["buyer_legal_scheme"] = "0002"
            values["buyer_legal_id"] = buyer[:9]
            values["buyer_global_id"] = (
                f'\n        <ram:GlobalID schemeID="0009">{buyer}</ram:GlobalID>'
                if cii
                else "\n      <cac:PartyIdentification>"
                f'<cbc:ID schemeID="0009">{buyer}</cbc:ID></cac:PartyIdentification>'
            )
        template = self.templates["ubl" if syntax == "ubl" else "cii"]
        return string.Template(template).substitute(values).encode("utf-8")

    def facturx(self, number: str, buyer: str = SEINE_MARITIME, **options) -> bytes:
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.cell(text=f"Facture {number}")
        xml = self.xml(number, buyer, syntax="facturx", **options)
        return facturx.generate_from_binary(bytes(pdf.output()), xml)

    def document(self, syntax: str, number: str, buyer: str = SEINE_MARITIME, **options) -> bytes:
        if syntax == "facturx":
            return self.facturx(number, buyer, **options)
        return self.xml(number, buyer, syntax=syntax, **options)

    @staticmethod
    def tar_gz(files: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return out.getvalue()

    @staticmethod
    def zip(files: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return out.getvalue()


class SandboxClient:
    """A plain Chorus Pro client over HTTP, the way production clients call the platform."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.credentials = self.http.get("/_sandbox/credentials").json()
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def token(self, **form: str) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.credentials["client_id"],
            "client_secret": self.credentials["client_secret"],
            "scope": "openid",
            **form,
        }
        return self.http.post("/api/oauth/token", data=data)

    def headers(self, login: str | None = None, password: str | None = None) -> dict:
        if self._token is None:
            self._token = self.token().json()["access_token"]
        account = f"{login or self.credentials['login']}:{password or self.credentials['password']}"
        return {
            "Authorization": f"Bearer {self._token}",
            "cpro-account": base64.b64encode(account.encode()).decode(),
            "Content-Type": "application/json;charset=utf-8",
        }

    def forget_token(self) -> None:
        self._token = None

    def call(self, path: str, body: dict | None = None, **options) -> httpx.Response:
        headers = options.pop("headers", None) or self.headers()
        return self.http.post(f"/cpro/{path}", json=body or {}, headers=headers, **options)

    def op(self, path: str, body: dict | None = None) -> dict:
        """Call an operation that must succeed (HTTP 200, codeRetour 0)."""
        response = self.call(path, body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["codeRetour"] == 0, answer
        return answer

    def deposit(self, content: bytes, syntax: str = "cii", name: str | None = None) -> str:
        answer = self.op(
            "factures/v1/deposer/flux",
            {
                "fichierFlux": base64.b64encode(content).decode(),
                "nomFichier": name or f"flux.{'pdf' if syntax == 'facturx' else 'xml'}",
                "syntaxeFlux": SYNTAX[syntax],
                "avecSignature": False,
            },
        )
        return answer["numeroFluxDepot"]

    def process(self) -> list[str]:
        return self.http.post("/_sandbox/process").json()["processed"]

    def report(self, flux: str) -> dict:
        return self.op("transverses/v1/consulterCRDetaille", {"numeroFluxDepot": flux})

    def invoices_of(self, flux: str) -> list[dict]:
        body = {
            "numeroFluxDepot": flux,
            "rechercheFactureParFournisseur": {"nbResultatsParPage": 100},
        }
        return self.op("factures/v1/rechercher/fournisseur", body)["listeFactures"]

    def move(self, invoice_id: int, status: str, reason: str | None = None) -> httpx.Response:
        return self.http.post(
            f"/_sandbox/invoices/{invoice_id}/status", json={"status": status, "reason": reason}
        )


class RunningSandbox:
    """A sandbox app served by a thread on a free loopback port."""

    def __init__(self, state: Path, clock: FakeClock, validator: Validator, **options) -> None:
        self.app = create_app(str(state), clock=clock, validator=validator, **options)
        self.server = serve(self.app, "127.0.0.1", 0)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client = SandboxClient(self.url)
        self.stopped = False

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.client.close()
        self.server.shutdown()
        self.server.server_close()
        self.app.close()


@pytest.fixture(scope="session")
def sandbox_validator():
    """One validator for the session: the schematron stylesheets are compiled once."""
    validator = Validator()
    yield validator
    validator.close()


@pytest.fixture
def sandbox_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox_documents() -> Documents:
    return Documents()


@pytest.fixture
def sandbox_start(tmp_path, sandbox_clock, sandbox_validator):
    """Start a sandbox (options as create_app's); each one is stopped after the test."""
    started: list[RunningSandbox] = []

    def start(state: Path | None = None, **options) -> RunningSandbox:
        options.setdefault("processing_delay", None)
        running = RunningSandbox(
            state or tmp_path / "sandbox.sqlite3", sandbox_clock, sandbox_validator, **options
        )
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def sandbox_server(sandbox_start) -> RunningSandbox:
    """A sandbox whose deposits are processed on `POST /_sandbox/process` only."""
    return sandbox_start()


@pytest.fixture
def sandbox_client(sandbox_server) -> SandboxClient:
    return sandbox_server.client
