"""The PISTE client against the Chorus Pro sandbox, run as a black box in a subprocess
(``sandbox.py``). A few answers it cannot give (429, a business error as HTTP 400) come from
a transport stub.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from structlog.testing import capture_logs

from gateway.config import Config, ConfigError
from gateway.directory import UNKNOWN, DirectoryEntry
from gateway.outlets import TransientOutletError
from plugins.chorus import ChorusPlugin
from plugins.chorus.api import (
    ENVIRONMENTS,
    ChorusAccessError,
    ChorusBusinessError,
    ChorusClient,
    ChorusConfigError,
    ChorusCredentialsError,
    ChorusTransientError,
    Credentials,
    TokenCache,
)
from plugins.chorus.directory import ChorusDirectory
from plugins.chorus.rules import chorus_findings
from tests.conftest import free_port
from tests.invoices import seine_maritime

AUBE = "22100005200011"
#: A seeded town with 23 services (three pages of ten).
TOWN = "21450123100184"


@pytest.fixture
def http():
    with httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        yield client


def make_client(
    http, settings: dict, tokens: TokenCache | None = None, pauses: list | None = None
) -> ChorusClient:
    """A client whose pauses before repeating a read are recorded in ``pauses``, not slept."""
    pauses = [] if pauses is None else pauses
    credentials = Credentials.from_settings(settings)
    return ChorusClient(credentials, http, tokens or TokenCache(), sleep=pauses.append)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- credentials ----------------------------------------------------------------------------


def test_the_environment_switches_both_urls_and_settings_may_override_them():
    base = {"client_id": "id", "client_secret": "s", "login": "l", "password": "p"}
    production = Credentials.from_settings({**base, "environment": "production"})
    assert (production.token_url, production.api_url) == ENVIRONMENTS["production"]
    sandbox = Credentials.from_settings(base)
    assert (sandbox.environment, sandbox.api_url) == ("sandbox", ENVIRONMENTS["sandbox"][1])
    local = Credentials.from_settings({**base, "api_url": "http://127.0.0.1:9/"})
    assert local.api_url == "http://127.0.0.1:9"
    assert "zz-secret" not in repr(
        Credentials.from_settings({**base, "client_secret": "zz-secret"})
    )


def test_incomplete_or_unknown_settings_are_a_permanent_configuration_error():
    with pytest.raises(ChorusConfigError, match="client_secret, password") as caught:
        Credentials.from_settings({"client_id": "id", "login": "l"})
    assert not caught.value.transient
    with pytest.raises(ChorusConfigError, match="environment"):
        Credentials.from_settings(
            {
                "client_id": "i",
                "client_secret": "s",
                "login": "l",
                "password": "p",
                "environment": "x",
            }
        )


# --- tokens ---------------------------------------------------------------------------------


def test_the_token_is_cached_and_renewed_before_it_expires(sandbox, http):
    clock = Clock()
    client = make_client(http, sandbox.settings(), TokenCache(clock=clock))
    before = sandbox.calls("token")
    for _ in range(3):
        assert client.find_structure(AUBE)["idStructureCPP"]
    assert sandbox.calls("token") == before + 1
    clock.now += 3600 - 240 - 1  # still inside the safety margin
    client.find_structure(AUBE)
    assert sandbox.calls("token") == before + 1
    clock.now += 2  # within 240 s of the end of its life: renewed
    client.find_structure(AUBE)
    assert sandbox.calls("token") == before + 2


def test_a_token_the_platform_expired_is_renewed_once_and_the_call_retried(sandbox, http):
    client = make_client(http, sandbox.settings())
    client.find_structure(AUBE)
    before = sandbox.calls("token")
    sandbox.control.post("/tokens/expire").raise_for_status()
    assert client.find_structure(AUBE)["identifiantStructure"] == AUBE
    assert sandbox.calls("token") == before + 1


def test_credential_sets_do_not_share_tokens(sandbox, http):
    tokens = TokenCache()
    other = sandbox.control.post("/clients", json={"apis": ["structures"]}).json()
    first = make_client(http, sandbox.settings(), tokens)
    second = make_client(
        http,
        sandbox.settings(client_id=other["client_id"], client_secret=other["client_secret"]),
        tokens,
    )
    assert first.token()[0] != second.token()[0]


# --- errors ---------------------------------------------------------------------------------


def test_a_bad_piste_application_is_a_permanent_credentials_error(sandbox, http):
    client = make_client(http, sandbox.settings(client_secret="wrong"))
    with pytest.raises(ChorusCredentialsError) as caught:
        client.find_structure(AUBE)
    assert caught.value.which == "piste"
    assert not caught.value.transient
    assert "application PISTE" in caught.value.message or "l'application" in caught.value.message


def test_a_bad_technical_account_is_a_permanent_credentials_error(sandbox, http):
    client = make_client(http, sandbox.settings(password="wrong"))
    before = sandbox.calls("token")
    with pytest.raises(ChorusCredentialsError) as caught:
        client.find_structure(AUBE)
    assert caught.value.which == "technical_account"
    assert "compte technique" in caught.value.message
    assert sandbox.calls("token") == before + 1  # a fresh token: no pointless renewal


def test_an_api_the_application_did_not_subscribe_to_is_403(sandbox, http):
    factures_only = sandbox.control.post("/clients", json={"apis": ["factures"]}).json()
    client = make_client(
        http,
        sandbox.settings(
            client_id=factures_only["client_id"], client_secret=factures_only["client_secret"]
        ),
    )
    with pytest.raises(ChorusAccessError) as caught:
        client.find_structure(AUBE)
    assert not caught.value.transient
    assert "CGU" in caught.value.message and "structures" in caught.value.message
    assert client.supplier_invoices(numeroFacture="NONE-SUCH") == []


def test_a_business_refusal_carries_code_and_libelle(sandbox, http):
    client = make_client(http, sandbox.settings())
    with pytest.raises(ChorusBusinessError) as caught:
        client.complete(999999999, "pièces", [])
    assert caught.value.code == 20000
    assert caught.value.libelle == "GDP_MSG_11.008"
    assert not caught.value.transient


def test_a_read_that_fails_transiently_is_repeated_twice_after_a_pause(sandbox):
    pauses: list[float] = []
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        client = make_client(http, sandbox.settings(), pauses=pauses)
        client.token()
        calls = sandbox.calls("structures/v1/rechercher")
        try:
            sandbox.faults(fail_next=2, error_statuses=[503])
            assert client.find_structure(AUBE)  # the third try goes through
            assert pauses == [0.5, 1.0]
            assert sandbox.calls("structures/v1/rechercher") == calls + 3
            sandbox.faults(fail_next=3, error_statuses=[503])
            with pytest.raises(ChorusTransientError) as caught:
                client.find_structure(AUBE)
            # A read is never uncertain: repeating it harms nothing (issue 10).
            assert "503" in caught.value.message and not caught.value.uncertain
            sandbox.faults(timeout_rate=1.0, timeout_seconds=1.0, paths=["/cpro/structures/"])
            with pytest.raises(ChorusTransientError) as caught:
                client.find_structure(AUBE)
            assert caught.value.transient and not caught.value.uncertain
        finally:
            sandbox.clear_faults()


def test_a_deposit_that_fails_is_never_repeated_blindly(sandbox):
    pauses: list[float] = []
    with httpx.Client(timeout=httpx.Timeout(0.3)) as http:
        client = make_client(http, sandbox.settings(), pauses=pauses)
        client.token()
        deposits = sandbox.calls("factures/v1/deposer/flux")
        try:
            sandbox.faults(fail_next=1, error_statuses=[502])
            with pytest.raises(ChorusTransientError) as caught:
                client.deposit_flux(b"<xml/>", "facture.xml", "IN_DP_E1_CII_16B")
            sandbox.faults(fail_next=1, error_statuses=[503])
            with pytest.raises(ChorusTransientError) as unavailable:
                client.deposit_flux(b"<xml/>", "facture.xml", "IN_DP_E1_CII_16B")
        finally:
            sandbox.clear_faults()
        assert caught.value.uncertain  # a 502 may hide a deposit: the outlet decides
        assert not unavailable.value.uncertain  # a 503 refuses before carrying anything out
        assert sandbox.calls("factures/v1/deposer/flux") == deposits + 2 and pauses == []


def test_a_refused_connection_is_transient_and_certain(http):
    closed = f"http://127.0.0.1:{free_port()}"
    client = make_client(
        http,
        {
            "client_id": "i",
            "client_secret": "s",
            "login": "l",
            "password": "p",
            "token_url": f"{closed}/api/oauth/token",
            "api_url": closed,
        },
    )
    with pytest.raises(ChorusTransientError) as caught:
        client.token()
    assert not caught.value.uncertain


@contextmanager
def answering(status: int, body: bytes) -> Iterator[ChorusClient]:
    """A client of a platform (no sandbox gives such answers) that grants tokens and answers
    every API call with ``status`` and ``body``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(status, content=body)

    settings = {
        "client_id": "i",
        "client_secret": "s",
        "login": "l",
        "password": "p",
        "token_url": "http://127.0.0.1:9/api/oauth/token",
        "api_url": "http://127.0.0.1:9",
    }
    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        yield make_client(http, settings)


@pytest.mark.parametrize(
    ("status", "body", "error", "transient"),
    [
        (429, b"", ChorusTransientError, True),
        (502, b"<html>Bad gateway</html>", ChorusTransientError, True),
        (400, b'{"codeRetour": 20003, "libelle": "parametre"}', ChorusBusinessError, False),
        (404, b"", Exception, False),
        (200, b"<html>portail</html>", ChorusTransientError, True),
    ],
)
def test_http_answers_the_sandbox_does_not_give(status, body, error, transient):
    with answering(status, body) as client, pytest.raises(error) as caught:
        client.structure(1)
    assert caught.value.transient is transient


def test_an_unreadable_answer_to_a_deposit_is_uncertain_to_a_read_it_is_not():
    """A 200 came back: the platform did the work. A deposit may then have been taken, and
    the next attempt must look for it before depositing again."""

    with answering(200, b"<html>portail</html>") as client:
        with pytest.raises(ChorusTransientError) as deposit:
            client.deposit_flux(b"<Invoice/>", "facture.xml", "IN_DP_E1_UBL_INVOICE")
        with pytest.raises(ChorusTransientError) as read:
            client.structure(1)
    assert deposit.value.uncertain and not read.value.uncertain


# --- pagination, logs -----------------------------------------------------------------------


def test_searches_read_every_page(sandbox, http):
    client = make_client(http, sandbox.settings())
    town = client.find_structure(TOWN)
    before = sandbox.calls("structures/v1/rechercher/services")
    services = client.services(town["idStructureCPP"])
    assert len(services) == 23
    assert len({service["codeService"] for service in services}) == 23
    assert sandbox.calls("structures/v1/rechercher/services") == before + 3
    assert client.find_structure("73282932000074") is None


def test_every_call_is_logged_without_a_secret(sandbox, http):
    settings = sandbox.settings()
    client = make_client(http, settings)
    with capture_logs() as logs:
        client.find_structure(AUBE)
        with pytest.raises(ChorusBusinessError):
            client.complete(999999999, "x", [])
    calls = [entry for entry in logs if entry["event"] == "chorus.call"]
    assert [entry["operation"] for entry in calls] == [
        "token",
        "structures/v1/rechercher",
        "factures/v1/completer",
    ]
    assert all(entry["outlet"] == "chorus" and entry["duration_ms"] >= 0 for entry in calls)
    assert [entry["result"] for entry in calls] == ["ok", "ok", "refused"]
    written = json.dumps(logs, default=str)
    for secret in (settings["client_secret"], settings["password"], client.credentials.login):
        assert secret not in written
    assert client.tokens.get(client.credentials.token_key) not in written


# --- the directory built on the Structures API ----------------------------------------------


@pytest.fixture(scope="module")
def directory(sandbox):
    with httpx.Client(timeout=5.0) as http:
        yield ChorusDirectory(sandbox.settings(), http=http, tokens=TokenCache())


def test_the_guides_two_structures(directory):
    seine = directory.lookup("22760540900019")
    assert (seine.name, seine.status) == ("DEPARTEMENT DE LA SEINE MARITIME", "ACTIF")
    flags = (
        seine.service_required,
        seine.engagement_required,
        seine.service_or_engagement_required,
    )
    assert flags == (False, True, False)
    assert [(s.code, s.status, s.engagement_required) for s in seine.services] == [
        ("FACTURES_PUBLIQUES", "ACTIF", False)
    ]
    aube = directory.lookup(AUBE)
    assert (aube.service_required, aube.engagement_required) == (True, True)
    assert len(aube.services) == 11 and aube.checked_at is not None
    assert aube.service("DGAEC").status == "SUPPRIME" and not aube.service("DGAEC").active
    assert aube.service("DFCG").engagement_required and aube.service("DFCG").active


def test_a_structure_with_many_services_and_one_flag_per_service(directory):
    town = directory.lookup(TOWN)
    assert len(town.services) == 23 and town.service_required
    assert not town.engagement_required
    assert town.service("MEDIATHEQUE").engagement_required
    assert town.service("LUDOTHEQUE").status == "SUPPRIME"


def test_inactive_unknown_and_either_structures(directory):
    assert directory.lookup("21450877200016").status == "INACTIF"
    assert directory.lookup("73282932000074") is None  # the core records it as INCONNU
    assert directory.lookup("79345612000013") is None  # a bookshop, not a public structure
    assert directory.lookup("20004123400010").service_or_engagement_required


def test_the_directory_is_read_afresh_and_judged_by_the_rules(sandbox, directory):
    invoice = seine_maritime()
    assert chorus_findings(invoice, directory.lookup("22760540900019")) == []
    patch = sandbox.control.patch
    try:
        patch("/structures/22760540900019", json={"engagement_required": False}).raise_for_status()
        changed = chorus_findings(invoice, directory.lookup("22760540900019"))
        assert [f.code for f in changed] == ["engagement.forbidden"]
    finally:
        patch("/structures/22760540900019", json={"engagement_required": True}).raise_for_status()
    unknown = DirectoryEntry(siret="73282932000074", name="", status=UNKNOWN)
    assert [f.code for f in chorus_findings(invoice, unknown)] == ["directory.unknown"]


def test_the_directory_hook_uses_the_credentials_the_configuration_gave_it(sandbox, tmp_path):
    plugin = ChorusPlugin()

    def configure(**tables) -> None:
        plugin.gateway_configure(config=Config(base_dir=tmp_path, plugins=tables))

    try:
        configure(chorus={"timeout": 5.0}, directory_chorus=sandbox.settings())
        assert plugin.gateway_directory_lookup(siret=AUBE).service_required
        configure(chorus=sandbox.settings())  # the outlet's table serves as the default
        assert plugin.gateway_directory_lookup(siret=AUBE).service_required
        configure(directory_chorus={"client_id": sandbox.credentials["client_id"]})
        assert plugin.gateway_directory_lookup(siret=AUBE) is None  # not configured
        unwritten = {"$json": ["var/sandbox-credentials.json", "client_id"]}
        with pytest.raises(ConfigError, match="sandbox-credentials.json"):
            configure(directory_chorus={**sandbox.settings(), "client_id": unwritten})
        with pytest.raises(TransientOutletError, match="illisibles"):  # unavailable, not unknown
            plugin.gateway_directory_lookup(siret=AUBE)
    finally:
        configure()
