"""Fixtures for the PA sandbox tests: a real server on loopback, a Flow Service client, invoices.

The invoices and the clock are the Chorus Pro sandbox tests' (the same EN 16931 documents).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import httpx
import pytest

from contrib.chorus_sandbox.server import serve
from contrib.pa_sandbox import create_app
from tests.contrib.chorus_sandbox.conftest import Documents, FakeClock

SELLER_SIRET = "81234567600017"  # the demo bookseller
SELLER = SELLER_SIRET[:9]


class PaClient:
    """A plain XP Z12-013 client over HTTP, as a PA outlet would call the platform."""

    def __init__(self, base_url: str, client: dict | None = None) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.client = client or self.http.get("/control/credentials").json()["clients"][0]
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def token(self, **form: str) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.client["client_id"],
            "client_secret": self.client["client_secret"],
            **form,
        }
        return self.http.post("/oauth/token", data=data)

    def headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self.token().json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def forget_token(self) -> None:
        self._token = None

    def deposit(
        self, content: bytes, syntax: str = "CII", *, sha256: str | None = "auto", **info
    ) -> httpx.Response:
        """`POST /v1/flows` with a flowInfo part (JSON) and a file part."""
        flow_info = {"flowSyntax": syntax, **info}
        if sha256 == "auto":
            flow_info["sha256"] = hashlib.sha256(content).hexdigest()
        elif sha256 is not None:
            flow_info["sha256"] = sha256
        files = {
            "flowInfo": (None, json.dumps(flow_info), "application/json"),
            "file": (info.get("name", "invoice.xml"), content, "application/xml"),
        }
        return self.http.post("/flow-service/v1/flows", files=files, headers=self.headers())

    def deposited(self, content: bytes, syntax: str = "CII", **info) -> str:
        response = self.deposit(content, syntax, **info)
        assert response.status_code == 202, response.text
        return response.json()["flowId"]

    def search(self, where: dict, **body) -> httpx.Response:
        return self.http.post(
            "/flow-service/v1/flows/search", json={"where": where, **body}, headers=self.headers()
        )

    def results(self, where: dict, **body) -> list[dict]:
        response = self.search(where, **body)
        assert response.status_code == 200, response.text
        return response.json()["results"]

    def get(self, flow_id: str, doc_type: str | None = None) -> httpx.Response:
        params = {"docType": doc_type} if doc_type else None
        return self.http.get(
            f"/flow-service/v1/flows/{flow_id}", params=params, headers=self.headers()
        )

    def metadata(self, flow_id: str) -> dict:
        response = self.get(flow_id)
        assert response.status_code == 200, response.text
        return response.json()

    def step(self) -> list[str]:
        return self.http.post("/control/step").json()["acknowledged"]

    def control(self, method: str, path: str, **options) -> httpx.Response:
        return self.http.request(method, f"/control{path}", **options)


class RunningSandbox:
    """A sandbox app served by a thread on a free loopback port."""

    def __init__(self, state: Path, clock: FakeClock, **options) -> None:
        self.app = create_app(str(state), clock=clock, **options)
        self.server = serve(self.app, "127.0.0.1", 0)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client = PaClient(self.url)
        self.stopped = False

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.client.close()
        self.server.shutdown()
        self.server.server_close()
        self.app.close()


@pytest.fixture
def pa_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pa_documents() -> Documents:
    return Documents()


@pytest.fixture
def pa_start(tmp_path, pa_clock):
    """Start a sandbox (options as create_app's); each one is stopped after the test."""
    started: list[RunningSandbox] = []

    def start(state: Path | None = None, **options) -> RunningSandbox:
        running = RunningSandbox(state or tmp_path / "pa.sqlite3", pa_clock, **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def pa_server(pa_start) -> RunningSandbox:
    """A sandbox whose flows are acknowledged on `POST /control/step` only."""
    return pa_start()


@pytest.fixture
def pa(pa_server) -> PaClient:
    return pa_server.client
