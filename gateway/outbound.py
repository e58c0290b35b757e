"""Where the gateway's outbound HTTP may go: the hosts its administrator allows.

Members name URLs in their settings (an outlet's ``token_url``, ``api_url``…) and the
shared worker calls them: unchecked, any member could make it reach the association's
internal services or a cloud metadata endpoint. Every such URL is checked here, when a
member's settings are changed and when a request leaves: its host must be listed in
``[security] outbound_hosts`` (``host`` or ``host:port``), and a name resolving to a
private, loopback or link-local address is refused unless that address is listed itself.
The core configures the policy when it loads the plugins; a plugin used on its own
(tests, the conformance kit) is not restricted.

A name is resolved once per connection, and the connection goes to the very address that
was checked (TLS still verifies the certificate for the name, sent as SNI): a DNS answer
that changes between the check and the connection (rebinding) cannot reach an internal
address.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from gateway.errors import Finding
from gateway.outlets import PermanentOutletError

HOST_NOT_ALLOWED = "setting.host_not_allowed"


class OutboundRefused(PermanentOutletError):
    """A URL the gateway may not call; its finding's field names the setting it came from."""

    def __init__(self, message: str, setting: str | None = None):
        super().__init__(message, [Finding(code=HOST_NOT_ALLOWED, message=message, field=setting)])


def _entry(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses(host: str, port: int) -> tuple[Address, ...]:
    """Return what ``host`` resolves to now, in the resolver's order; none when it does not."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return ()
    return tuple(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


@dataclass(frozen=True)
class OutboundPolicy:
    #: Allowed ``host`` and ``host:port`` entries; None: anything (not in a gateway).
    hosts: frozenset[str] | None = None
    #: How a name is resolved (``getaddrinfo``); tests answer for the DNS here.
    resolve: Callable[[str, int], Sequence[Address]] = _addresses

    def allows(self, host: str, port: int) -> bool:
        return self.hosts is None or host in self.hosts or _entry(host, port) in self.hosts

    def check(self, url: str, setting: str | None = None) -> tuple[Address, ...]:
        """Refuse (:class:`OutboundRefused`) a URL the gateway may not call; return the
        addresses its host resolves to, every one checked (none: unrestricted, or the
        name does not resolve)."""
        if self.hosts is None:
            return ()
        what = f"Le réglage « {setting} »" if setting else "L'adresse"
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = None
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host or port is None:
            raise OutboundRefused(f"{what} n'est pas une adresse http(s) valide : {url}", setting)
        if not self.allows(host, port):
            raise OutboundRefused(
                f"{what} désigne le serveur « {host} », que l'administrateur de la passerelle "
                "n'autorise pas (liste [security] outbound_hosts).",
                setting,
            )
        addresses = tuple(self.resolve(host, port))
        for address in addresses:
            if not address.is_global and not self.allows(str(address), port):
                raise OutboundRefused(
                    f"{what} désigne le serveur « {host} », dont l'adresse ({address}) est "
                    "interne : l'administrateur de la passerelle ne l'autorise pas.",
                    setting,
                )
        return addresses


_policy = OutboundPolicy()


def configure(
    hosts: Iterable[str] | None, resolve: Callable[[str, int], Sequence[Address]] = _addresses
) -> None:
    """Set the hosts outbound calls may reach (the core does, from its configuration), and
    how names are resolved (tests answer for the DNS there)."""
    global _policy
    _policy = OutboundPolicy(
        None if hosts is None else frozenset(h.lower() for h in hosts), resolve
    )


def check_outbound_url(url: str, setting: str | None = None) -> None:
    """Refuse (:class:`OutboundRefused`, a permanent outlet error) a URL the gateway may not
    call; ``setting`` names the setting it came from, for the member to fix it."""
    _policy.check(url, setting)


def _pinned(request: httpx.Request, address: Address) -> httpx.Request:
    """Return ``request`` addressed to ``address``, still naming its host (``Host``, SNI)."""
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(address)),
        headers=request.headers,
        stream=request.stream,
        extensions={**request.extensions, "sni_hostname": request.url.host},
    )


class PinnedTransport(httpx.BaseTransport):
    """Check each request's URL (each redirect hop is one) and connect to an address the
    check resolved, not to whatever the name resolves to a moment later.

    The request keeps its ``Host`` header, and TLS its server name (SNI and certificate
    check, through httpx's ``sni_hostname``): only the address the socket opens is pinned.
    """

    def __init__(self):
        # Given a transport, httpx reads no proxy from the environment: a proxy would
        # resolve the name itself.
        self.pools: dict[str, httpx.HTTPTransport] = {}
        self.lock = threading.Lock()

    def pool(self, host: str) -> httpx.HTTPTransport:
        """Return the connections of ``host``: pools are keyed by address, and a connection
        whose certificate was checked for one name must not serve another name that
        resolves to the same address."""
        with self.lock:
            if host not in self.pools:
                self.pools[host] = httpx.HTTPTransport()
            return self.pools[host]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        policy = _policy  # as configured now, not when the client was made
        addresses = policy.check(str(request.url))
        pool = self.pool(request.url.host)
        if policy.hosts is None:
            return pool.handle_request(request)
        if not addresses:
            raise httpx.ConnectError(f"{request.url.host} does not resolve", request=request)
        *others, last = addresses  # tried in order, as a plain connect does
        for address in others:
            try:
                return pool.handle_request(_pinned(request, address))
            except (httpx.ConnectError, httpx.ConnectTimeout):  # nothing was sent
                continue
        return pool.handle_request(_pinned(request, last))

    def close(self) -> None:
        with self.lock:
            for pool in self.pools.values():
                pool.close()
            self.pools.clear()


def outbound_client(timeout: float, connect_timeout: float | None = None) -> httpx.Client:
    """Return an HTTP client whose every request, each redirect hop included, is checked
    and pinned to the checked address; redirects are not followed unless a call asks."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=connect_timeout or timeout),
        follow_redirects=False,
        transport=PinnedTransport(),
    )


#: Seconds a platform has to accept a connection, however long its calls may take.
PLATFORM_CONNECT_TIMEOUT = 10.0


def platform_client(timeout: float) -> httpx.Client:
    """An outbound client for a platform's API: a call may take ``timeout`` seconds, its
    connection :data:`PLATFORM_CONNECT_TIMEOUT` at most."""
    return outbound_client(timeout, connect_timeout=min(timeout, PLATFORM_CONNECT_TIMEOUT))


class TokenCache:
    """OAuth2 access tokens per application (the key: token URL, client id, a digest of the
    secret), renewed ``margin`` seconds before they expire, at most a quarter of their life.
    Outlets keep one per process (Chorus Pro's PISTE, the approved platforms)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, margin: float = 240.0):
        self.clock = clock
        self.margin = margin
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, key: tuple) -> threading.Lock:
        """Return the lock that serialises fetching the token of one application."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: tuple) -> str | None:
        token = self._tokens.get(key)
        if token is None or self.clock() >= token[1]:
            return None
        return token[0]

    def put(self, key: tuple, token: str, expires_in: float) -> None:
        margin = min(self.margin, expires_in / 4)
        self._tokens[key] = (token, self.clock() + expires_in - margin)

    def drop(self, key: tuple, token: str) -> None:
        """Forget ``token`` unless another thread has already replaced it."""
        with self._guard:
            if self._tokens.get(key, (None,))[0] == token:
                del self._tokens[key]
