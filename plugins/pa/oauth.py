"""OAuth2 client credentials for an approved platform (XP Z12-013: every call carries a
Bearer token obtained from the platform's token URL), shared by the ``pa`` outlet and the
Directory Service client.

Use :class:`OAuthSession`: ``session.request(method, url, **httpx_arguments)`` sends one
authorised request and returns the platform's ``httpx.Response`` whatever its status, except
401: a cached token the platform refuses is renewed and the request sent again once; a 401
to a fresh token raises :class:`CredentialsRefused`. Failures to obtain a token raise
:class:`CredentialsRefused` (400/401 of the token URL) or ``UnavailableOutletError`` (the
token URL unreachable, 429, 5xx: nothing was sent to the platform). Transport failures of
the request itself (``httpx.TransportError``) are the caller's to map: only it knows
whether the call was a write. Tokens are kept per (token URL, client id, digest of the
secret) in :data:`TOKENS`, one cache per process; secrets are never logged.
"""

from __future__ import annotations

import hashlib
import time

import httpx

from gateway.plugin_api import (
    Finding,
    PermanentOutletError,
    TokenCache,
    UnavailableOutletError,
    get_logger,
)

log = get_logger(__name__)

#: Tokens of every approved platform this process talks to.
TOKENS = TokenCache()
#: A token whose lifetime the platform does not give is kept this long (seconds).
DEFAULT_LIFETIME = 300.0


class CredentialsRefused(PermanentOutletError):
    """The platform refused the client id / secret (token URL 400/401, or 401 to a fresh
    token); the finding names the member's ``client_secret`` setting."""

    def __init__(self, platform: str, setting_prefix: str):
        message = (
            f"{platform} a refusé les identifiants (client_id / client_secret) : identifiants "
            "refusés. Vérifiez ces deux réglages auprès de votre plateforme."
        )
        super().__init__(
            message,
            findings=[
                Finding(
                    code="pa.credentials_refused",
                    field=f"{setting_prefix}.client_secret",
                    message="Identifiants refusés par la plateforme.",
                )
            ],
        )


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a platform's ``Retry-After`` asks for (the delta form only)."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


class OAuthSession:
    """Authorised requests to one platform for one client (see the module).

    ``platform`` names it in French messages (« La plateforme agréée »); ``setting_prefix``
    is where the member's settings live (``settings.pa``), for findings.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        http: httpx.Client,
        tokens: TokenCache = TOKENS,
        platform: str = "La plateforme agréée",
        setting_prefix: str = "settings.pa",
    ):
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.http = http
        self.tokens = tokens
        self.platform = platform
        self.setting_prefix = setting_prefix
        digest = hashlib.sha256(client_secret.encode()).hexdigest()
        self.key = (token_url, client_id, digest)

    def __repr__(self) -> str:  # never the secret
        return f"OAuthSession({self.token_url!r}, {self.client_id!r})"

    def token(self) -> tuple[str, bool]:
        """Return (a valid access token, whether it was just fetched)."""
        token = self.tokens.get(self.key)
        if token:
            return token, False
        with self.tokens.lock(self.key):
            token = self.tokens.get(self.key)
            if token:
                return token, False
            token, lifetime = self._fetch()
            self.tokens.put(self.key, token, lifetime)
            return token, True

    def forget(self, token: str) -> None:
        """Drop ``token`` from the cache (the platform refused it)."""
        self.tokens.drop(self.key, token)

    def request(self, method: str, url: str, stream: bool = False, **arguments) -> httpx.Response:
        """``stream``: the body is left unread, for the caller to read (and close)."""
        token, fresh = self.token()
        response = self._send(method, url, token, stream, arguments)
        if response.status_code == 401 and not fresh:
            # revoked or expired early: one new token, one more try (a 401 carried nothing out)
            response.close()
            self.forget(token)
            token, fresh = self.token()
            response = self._send(method, url, token, stream, arguments)
        if response.status_code == 401:
            response.close()
            self.forget(token)
            raise CredentialsRefused(self.platform, self.setting_prefix)
        return response

    def _send(
        self, method: str, url: str, token: str, stream: bool, arguments: dict
    ) -> httpx.Response:
        headers = {**arguments.get("headers", {}), "Authorization": f"Bearer {token}"}
        request = self.http.build_request(method, url, **{**arguments, "headers": headers})
        return self.http.send(request, stream=stream)

    def _fetch(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        started = time.monotonic()
        try:
            response = self.http.post(self.token_url, data=form)
        except httpx.TransportError as ex:  # nothing reached the platform's API
            log.info("pa.token", result=type(ex).__name__)
            raise UnavailableOutletError(
                f"{self.platform} ne délivre pas de jeton d'accès (adresse du jeton "
                "injoignable) : nouvel essai plus tard."
            ) from ex
        log.info(
            "pa.token",
            http_status=response.status_code,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        if response.status_code in (400, 401):
            raise CredentialsRefused(self.platform, self.setting_prefix)
        try:
            body = response.json() if response.status_code == 200 else {}
        except ValueError:
            body = {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            wait = retry_after(response)
            raise UnavailableOutletError(
                f"{self.platform} ne délivre pas de jeton d'accès (HTTP {response.status_code}"
                + (f", réessayer dans {int(wait)} s" if wait else "")
                + ")."
            )
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        return token, max(lifetime, 1.0)
