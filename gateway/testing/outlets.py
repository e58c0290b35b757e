"""The rules every outlet plugin keeps, checked against its platform (or a faithful sandbox
of it) that an :class:`OutletHarness`, written by the outlet's author, drives into each
situation.

Each check raises AssertionError with a readable reason when the outlet breaks a rule, or
:class:`NotApplicable` when the rule does not concern it:

- ``declaration``: a name, a label, capabilities from the documented set with the methods
  they promise, config fields with secrets flagged (and no secret default), a cost;
- ``bad_settings``: bad settings are refused at start — constructing the outlet raises
  ``ConfigError``, or ``health`` answers ``{"ok": False, "error": …}`` — with a message
  naming the setting, and sending with them is a permanent error, never a crash;
- ``deposit``: good settings deposit the invoice once and give a receipt (and ``poll``
  answers about it);
- ``outage:<kind>`` (connection refused, 5xx, time-out…): ``TransientOutletError``, to be
  retried, never a permanent error, from ``send`` (``send_batch``, ``poll``) alike;
- ``odd_answer:<kind>`` (malformed JSON, unexpected shape): an ``OutletError`` whose message
  says what was odd (it becomes the invoice's error), never a KeyError or a TypeError;
- ``lost_answer``: the platform took the invoice but its answer was lost; the error must
  not say that nothing left (``UnavailableOutletError``), and the next attempts, with the
  ``SendContext.state`` the outlet kept, never deposit it again;
- ``health``: ``{"ok": True}`` with good settings; ``health_bad_credentials``:
  ``{"ok": False, "error": …}`` with bad credentials;
- ``print`` (outlets with that capability): ``print_batch`` assembles invoices into one
  document of at least a page each.

An outlet that hands the invoice to the bookseller instead of a platform (a PDF to upload,
paper to print: :attr:`OutletHarness.local`) has no outage, odd or lost answer to provoke;
its receipt must name a status where the bookseller acts, not ``DEPOSEE``, and the same
invoice sent again gives the same receipt.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from gateway.config import Config, ConfigError
from gateway.model import Invoice
from gateway.outlets import (
    CAPABILITIES,
    ConfigField,
    Cost,
    Document,
    Outlet,
    OutletError,
    PermanentOutletError,
    PollContext,
    PrintContext,
    Printout,
    Receipt,
    SendContext,
    StatusUpdate,
    TransientOutletError,
)
from gateway.plugins import Registry, build_plugin_manager
from gateway.schemas import load_invoice

#: Last words of a setting's name that say it holds a secret (``client_secret``, ``api_key``).
SECRET_SUFFIXES = frozenset({"secret", "password", "passphrase", "key", "token", "credentials"})
#: Attempts after a lost answer before the suite gives up waiting for a receipt.
RETRIES_AFTER_LOST_ANSWER = 4
MEMBER = "conformance-member"

#: A plain invoice to a public buyer, renumbered for each send (see :meth:`OutletHarness.invoice`).
SAMPLE_INVOICE = {
    "issue_date": "2026-11-20",
    "due_date": "2026-12-20",
    "seller": {
        "name": "Librairie des Quais",
        "siret": "81234567600017",
        "vat_id": "FR19812345676",
        "address": {"line1": "12 quai de la Bourse", "postcode": "76000", "city": "Rouen"},
    },
    "buyer": {
        "name": "DEPARTEMENT DE LA SEINE MARITIME",
        "siret": "22760540900019",
        "address": {"line1": "Quai Jean Moulin", "postcode": "76100", "city": "Rouen"},
    },
    "references": {"engagement": "EJ2026000815"},
    "lines": [
        {
            "item_id": "9782070360024",
            "name": "L'Étranger — Albert Camus (Folio)",
            "quantity": "5",
            "net_price": "7.68",
            "vat_rate": "5.5",
        }
    ],
    "payment": {"means_code": "30", "iban": "FR7630006000011234567890189"},
}


class NotApplicable(Exception):
    """The rule does not concern this outlet (e.g. bad credentials for an outlet without any)."""


@functools.cache
def installed_registry() -> Registry:
    """The plugins installed in this environment, for the renderers outlets send through."""
    pm, failures = build_plugin_manager()
    return Registry(pm, Config(), failures)


def render(renderer: str, invoice: Invoice, profile: str = "chorus") -> bytes:
    """Render a document with an installed renderer, as ``SendContext.render`` does."""
    return installed_registry().renderers[renderer].render(invoice, profile=profile)


class OutletHarness:
    """What the outlet suite needs to put an outlet in each situation it checks.

    The author of an outlet subclasses it, names the outlet class in :attr:`outlet`, and
    implements the methods that provoke each situation on the platform the outlet talks
    to: its real test environment, or a sandbox run for the occasion (started in
    ``__init__``, stopped in :meth:`close`). The suite builds a new outlet for each step
    with :meth:`make`, as each worker process does, so only ``SendContext.state`` carries
    over between attempts.

    Each situation is a context manager (``contextlib.contextmanager`` suits) yielding the
    settings to use while it lasts; settings are both the outlet's own configuration and
    the member's.
    """

    #: The outlet class under test.
    outlet: ClassVar[type[Outlet]]
    #: The outages :meth:`outage` provokes, e.g. ``("refused", "server_error", "timeout")``.
    outages: ClassVar[tuple[str, ...]] = ()
    #: The odd answers :meth:`odd_answer` provokes: kind → a regular expression the
    #: outlet's error message must match (what was odd), e.g. ``{"malformed": "illisible"}``.
    odd_answers: ClassVar[dict[str, str]] = {}
    #: The outlet reaches no platform: the bookseller carries the invoice on (see above).
    local: ClassVar[bool] = False

    def __init__(self, workdir: Path):
        #: A scratch directory of this harness's own.
        self.workdir = workdir

    def close(self) -> None:
        """Stop what the harness started."""

    def make(self, settings: dict) -> Outlet:
        """Build the outlet with ``settings`` as its configuration."""
        return self.outlet(settings)

    def good_settings(self) -> dict:
        """Return settings with which the outlet deposits invoices."""
        raise NotImplementedError

    def bad_settings(self) -> list[tuple[dict, str]]:
        """Return (settings, name of the setting at fault) pairs the outlet must refuse."""
        return []

    def bad_credentials(self) -> dict | None:
        """Return settings whose credentials the platform refuses; None: it has none."""
        return None

    def invoice(self) -> Invoice:
        """Return an invoice the platform accepts, never sent before (a fresh number)."""
        return load_invoice({**SAMPLE_INVOICE, "number": "CONF-" + secrets.token_hex(4).upper()})

    def outage(self, kind: str) -> AbstractContextManager[dict]:
        """Make the platform unreachable in the way ``kind`` names, while the block runs."""
        raise NotImplementedError

    def odd_answer(self, kind: str) -> AbstractContextManager[dict]:
        """Make the platform answer oddly (``kind``), while the block runs."""
        raise NotImplementedError

    def lost_answer(self) -> AbstractContextManager[dict]:
        """Make the platform take the next deposit but lose its answer."""
        raise NotImplementedError

    def settle(self) -> None:
        """Let the platform process what it took, as time passing would (between attempts)."""

    def deposits(self, invoice: Invoice) -> int:
        """Return how many times the platform holds ``invoice`` (found by its number)."""
        raise NotImplementedError


class Delivery:
    """One invoice sent as the worker sends it: attempts counted, the outlet's state kept
    between them (``remember`` at once, an error's ``state`` when it carries one)."""

    def __init__(self, harness: OutletHarness):
        self.invoice = harness.invoice()
        self.invoice_id = f"conformance-{self.invoice.number}"
        self.attempt = 0
        self.state: dict = {}

    def context(self, settings: dict) -> SendContext:
        self.attempt += 1
        return SendContext(
            invoice_id=self.invoice_id,
            member_id=MEMBER,
            attempt=self.attempt,
            settings=settings,
            render=render,
            state=dict(self.state),
            remember=self.remember,
        )

    def remember(self, state: dict) -> None:
        self.state = dict(state)

    def documents(self, outlet: Outlet, settings: dict) -> list[Document]:
        """The document rendered at acceptance, named as the gateway names it."""
        chosen = outlet.document_format(settings)
        if chosen is None:
            return []
        renderer = installed_registry().renderers[chosen[0]]
        content = renderer.render(self.invoice, profile=chosen[1])
        return [Document(f"facture{renderer.extension}", renderer.media_type, content)]

    def item(self, outlet: Outlet, settings: dict) -> tuple[Invoice, list[Document], SendContext]:
        return self.invoice, self.documents(outlet, settings), self.context(settings)

    def send(self, outlet: Outlet, settings: dict) -> Receipt:
        try:
            receipt = outlet.send(*self.item(outlet, settings))
        except OutletError as ex:
            if ex.state is not None:  # None keeps what was kept
                self.state = dict(ex.state)
            if not ex.attempted:  # nothing left: the worker gives the attempt back
                self.attempt -= 1
            raise
        receipt.invoice_id = self.invoice_id  # as the core does before polling
        return receipt


def _fails(what: str, call: Callable[[], object]) -> OutletError:
    """Run ``call``; it must raise an OutletError, which is returned."""
    try:
        result = call()
    except OutletError as ex:
        return ex
    except Exception as ex:  # noqa: BLE001 - the rule is "an OutletError, nothing else"
        raise AssertionError(f"{what}: raised {ex!r} instead of an OutletError") from ex
    raise AssertionError(f"{what}: no error (returned {result!r})")


def _fails_transiently(what: str, call: Callable[[], object]) -> OutletError:
    error = _fails(what, call)
    assert error.transient, f"{what}: {error!r} is permanent; it must be retried"
    return error


# --- the checks -----------------------------------------------------------------------------


def check_declaration(outlet: type[Outlet]) -> None:
    name = getattr(outlet, "name", None)
    assert isinstance(name, str) and name, "an outlet needs a name"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{name!r}: names are lowercase words"
    assert isinstance(outlet.label, str) and outlet.label, f"{name}: a label (French) is needed"
    capabilities = set(outlet.capabilities)
    unknown = capabilities - set(CAPABILITIES)
    assert not unknown, f"{name}: unknown capabilities {sorted(unknown)} (see the docs)"
    assert "send" in capabilities, f"{name}: every outlet has the send capability"
    for capability in sorted(capabilities):
        method = CAPABILITIES[capability]
        assert method is None or getattr(outlet, method) is not getattr(Outlet, method), (
            f"{name}: declares {capability} but does not implement {method}()"
        )
    assert isinstance(outlet.config_fields, dict), f"{name}: config_fields is a dict"
    for key, spec in outlet.config_fields.items():
        assert isinstance(spec, ConfigField), f"{name}.{key}: a ConfigField is expected"
        assert spec.description, f"{name}.{key}: a setting needs a description"
        if key.lower().rsplit("_", 1)[-1] in SECRET_SUFFIXES:
            assert spec.secret, f"{name}.{key}: looks like a secret; declare it secret=True"
        if spec.secret:
            assert spec.default in (None, ""), f"{name}.{key}: a secret has no default"
    cost = outlet.cost
    assert isinstance(cost, Cost), f"{name}: cost is a gateway.Cost"
    for amount in (cost.per_invoice, cost.per_year, cost.archive_price, cost.minutes_per_invoice):
        assert isinstance(amount, Decimal) and amount >= 0, (
            f"{name}: costs are Decimal euros, not negative ({amount!r})"
        )
    prices = [cost.for_invoice(lines) for lines in (1, 20, 21, 100, 101, 1000)]
    assert prices == sorted(prices), f"{name}: an invoice of fewer lines costs more ({prices})"


def check_bad_settings(harness: OutletHarness) -> None:
    outlet = harness.outlet
    cases = harness.bad_settings()
    assert cases or not outlet.config_fields, (
        f"{outlet.name}: the harness gives no bad settings (OutletHarness.bad_settings)"
    )
    for settings, key in cases:
        assert key in outlet.config_fields, f"harness: {key!r} is not a setting of {outlet.name}"
        try:
            built = harness.make(settings)
        except (ConfigError, OutletError) as ex:
            assert not isinstance(ex, OutletError) or not ex.transient, (
                f"{key}: bad settings raised {ex!r}, a transient error"
            )
            assert key in str(ex), f"{key}: the error at start does not name it: {ex}"
            continue
        except Exception as ex:  # noqa: BLE001
            raise AssertionError(
                f"{key}: constructing the outlet raised {ex!r}; raise "
                "gateway.ConfigError naming the setting"
            ) from ex
        try:
            health = built.health(settings)
        except Exception as ex:  # noqa: BLE001
            raise AssertionError(f"{key}: health() raised {ex!r}") from ex
        assert isinstance(health, dict) and health.get("ok") is False, (
            f"{key}: bad settings were not refused at start: health() says {health!r}"
        )
        assert key in str(health.get("error") or ""), (
            f"{key}: health()'s error does not name the setting: {health.get('error')!r}"
        )
        delivery = Delivery(harness)
        try:
            receipt = delivery.send(built, settings)
        except PermanentOutletError:
            continue
        except Exception as ex:  # noqa: BLE001
            raise AssertionError(
                f"{key}: sending with bad settings raised {ex!r}, not a PermanentOutletError"
            ) from ex
        raise AssertionError(f"{key}: sending with bad settings gave a receipt ({receipt!r})")


def check_deposit(harness: OutletHarness) -> None:
    settings = harness.good_settings()
    outlet = harness.make(settings)
    delivery = Delivery(harness)
    try:
        receipt = delivery.send(outlet, settings)
    except Exception as ex:  # noqa: BLE001
        raise AssertionError(f"a send with good settings failed: {ex!r}") from ex
    assert isinstance(receipt, Receipt), f"send() returned {receipt!r}, not a Receipt"
    assert receipt.outlet == outlet.name and receipt.reference, (
        f"a receipt names its outlet and the platform's reference: {receipt!r}"
    )
    if harness.local:
        assert receipt.status != "DEPOSEE", (
            f"{outlet.name} reaches no platform: its receipt says what the bookseller must do"
        )
        again = delivery.send(harness.make(settings), settings)
        assert (again.reference, again.status) == (receipt.reference, receipt.status), (
            f"the same invoice sent again gave another receipt: {again!r}"
        )
        return
    harness.settle()
    held = harness.deposits(delivery.invoice)
    assert held == 1, f"the platform holds the invoice {held} time(s), not once"
    if "poll" in outlet.capabilities:
        updates = harness.make(settings).poll([receipt], PollContext(MEMBER, settings))
        assert isinstance(updates, list) and all(
            isinstance(u, StatusUpdate) and u.invoice_id == delivery.invoice_id for u in updates
        ), f"poll() returns StatusUpdates of the receipts' invoices, not {updates!r}"


def check_outage(harness: OutletHarness, kind: str) -> None:
    settings = harness.good_settings()
    outlet = harness.make(settings)
    earlier = Delivery(harness).send(outlet, settings) if "poll" in outlet.capabilities else None
    with harness.outage(kind) as during:
        outlet = harness.make(during)
        delivery = Delivery(harness)
        _fails_transiently(f"send during a {kind} outage", lambda: delivery.send(outlet, during))
        if "batch" in outlet.capabilities:
            batch = [Delivery(harness) for _ in range(2)]
            try:
                results = outlet.send_batch([d.item(outlet, during) for d in batch])
            except OutletError as ex:
                results = [ex] * len(batch)
            assert len(results) == len(batch), "send_batch() gives one result per invoice"
            for result in results:
                assert isinstance(result, OutletError) and result.transient, (
                    f"send_batch during a {kind} outage gave {result!r}, not a TransientOutletError"
                )
        if earlier is not None:
            context = PollContext(MEMBER, during)
            _fails_transiently(
                f"poll during a {kind} outage", lambda: outlet.poll([earlier], context)
            )


def check_odd_answer(harness: OutletHarness, kind: str) -> None:
    says = harness.odd_answers[kind]
    with harness.odd_answer(kind) as settings:
        outlet = harness.make(settings)
        delivery = Delivery(harness)
        error = _fails(f"odd answer ({kind})", lambda: delivery.send(outlet, settings))
    assert isinstance(error.message, str) and re.search(says, error.message), (
        f"odd answer ({kind}): the error does not say what was odd (expected /{says}/): "
        f"{error.message!r}"
    )


def check_lost_answer(harness: OutletHarness) -> None:
    delivery = Delivery(harness)
    with harness.lost_answer() as settings:
        outlet = harness.make(settings)
        error = _fails_transiently(
            "a deposit whose answer was lost", lambda: delivery.send(outlet, settings)
        )
    assert error.attempted, (
        f"a lost answer raised {error!r}, which says nothing left: the platform may hold the "
        "invoice (raise UncertainOutletError, or a TransientOutletError)"
    )
    harness.settle()
    held = harness.deposits(delivery.invoice)
    assert held == 1, (
        f"harness: after lost_answer() the platform holds the invoice {held} time(s), not once"
    )
    settings = harness.good_settings()
    receipt = None
    for _ in range(RETRIES_AFTER_LOST_ANSWER):
        harness.settle()
        try:
            receipt = delivery.send(harness.make(settings), settings)
            break
        except TransientOutletError as ex:
            error = ex
        except Exception as ex:  # noqa: BLE001
            raise AssertionError(
                f"attempt {delivery.attempt} after a lost answer raised {ex!r}"
            ) from ex
    harness.settle()
    held = harness.deposits(delivery.invoice)
    assert held == 1, f"after a lost answer the invoice was deposited {held} times"
    assert receipt is not None, (
        f"no receipt after {delivery.attempt} attempts following a lost answer; last error: "
        f"{error.message}"
    )


def check_print(harness: OutletHarness) -> None:
    settings = harness.good_settings()
    outlet = harness.make(settings)
    if "print" not in outlet.capabilities:
        raise NotApplicable(f"{outlet.name} does not print")
    invoices = [harness.invoice(), harness.invoice()]
    context = PrintContext(MEMBER, invoices[0].issue_date, settings, render)
    printout = outlet.print_batch(invoices, context)
    assert isinstance(printout, Printout), f"print_batch() returned {printout!r}"
    document = printout.document
    assert isinstance(document, Document) and document.content and document.media_type, (
        f"print_batch() gives a named, typed, non-empty document: {document!r}"
    )
    assert printout.pages >= len(invoices), (
        f"{printout.pages} page(s) for {len(invoices)} invoices: each starts a new sheet"
    )


def check_health(harness: OutletHarness) -> None:
    settings = harness.good_settings()
    health = harness.make(settings).health(settings)
    assert isinstance(health, dict) and health.get("ok") is True, (
        f"health() with good settings says {health!r}, not ok"
    )


def check_health_bad_credentials(harness: OutletHarness) -> None:
    settings = harness.bad_credentials()
    if settings is None:
        raise NotApplicable(f"{harness.outlet.name} holds no credentials")
    try:
        health = harness.make(settings).health(settings)
    except Exception as ex:  # noqa: BLE001
        raise AssertionError(f"health() with bad credentials raised {ex!r}") from ex
    assert isinstance(health, dict) and health.get("ok") is False, (
        f"health() with bad credentials says {health!r}, not ok False"
    )
    assert isinstance(health.get("error"), str) and health["error"], (
        "health() says why it is not ok in error"
    )


#: The suite: check name → check(harness, kind); ``kind`` names the outage or odd answer.
CHECKS: dict[str, Callable[[OutletHarness, str], None]] = {
    "declaration": lambda harness, kind: check_declaration(harness.outlet),
    "bad_settings": lambda harness, kind: check_bad_settings(harness),
    "deposit": lambda harness, kind: check_deposit(harness),
    "outage": check_outage,
    "odd_answer": check_odd_answer,
    "lost_answer": lambda harness, kind: check_lost_answer(harness),
    "health": lambda harness, kind: check_health(harness),
    "print": lambda harness, kind: check_print(harness),
    "health_bad_credentials": lambda harness, kind: check_health_bad_credentials(harness),
}


def outlet_checks(harness: type[OutletHarness]) -> list[str]:
    """Return the names of the checks the suite runs over ``harness``'s outlet, in order."""
    if harness.local:
        printing = ["print"] if "print" in harness.outlet.capabilities else []
        return ["declaration", "bad_settings", "deposit", *printing, "health"]
    return [
        "declaration",
        "bad_settings",
        "deposit",
        *(f"outage:{kind}" for kind in harness.outages or ("none",)),
        *(f"odd_answer:{kind}" for kind in harness.odd_answers or {"none": ""}),
        "lost_answer",
        "health",
        # Only outlets with credentials say so, by giving bad ones.
        *(
            ["health_bad_credentials"]
            if harness.bad_credentials is not OutletHarness.bad_credentials
            else []
        ),
    ]


def check_outlet(harness: OutletHarness, check: str) -> None:
    """Run one check of :func:`outlet_checks` over the harness's outlet."""
    name, _, kind = check.partition(":")
    if kind == "none":
        raise AssertionError(
            f"harness: {type(harness).__name__} provokes no {name.replace('_', ' ')} "
            f"(list them in OutletHarness.{name}s)"
        )
    try:
        CHECKS[name](harness, kind)
    except NotImplementedError as ex:
        raise AssertionError(
            f"harness: {type(harness).__name__} does not implement what {check} needs"
        ) from ex
