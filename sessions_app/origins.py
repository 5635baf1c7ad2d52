"""Which websocket handshakes may proceed: the Host must be allowed, and the Origin must be exact.

A browser sends the session cookie with any websocket it opens, from any page, so a cookie-authenticated
socket is only safe when its Origin equals — scheme, host and port — the origin the request came to, or
one listed in HARNESS_ALLOWED_ORIGINS. Token-header clients (the CLI) send no Origin; a page cannot set
that header, so a handshake without an Origin is accepted only when it carries a token. An Origin that
is present is checked whatever the credentials. Behind a TLS proxy the scheme comes from
SECURE_PROXY_SSL_HEADER, as for Django's own requests.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

from sessions_app.auth_middleware import token_from_headers

logger = logging.getLogger(__name__)
Origin = tuple[str, str, int]  # scheme, host, port
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(value: str) -> Origin | None:
    """`scheme://host[:port]` → (scheme, host, port) with the default port filled in; None if it is not one."""
    try:
        parts = urlsplit(value.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query or parts.username:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]


def configured_origins() -> frozenset[Origin]:
    """HARNESS_ALLOWED_ORIGINS and the origin of HARNESS_PUBLIC_URL (daphne puts no scheme in a websocket's
    scope, so behind TLS the public URL is what tells the server its own https origin)."""
    origins = set()
    for value in settings.HARNESS_ALLOWED_ORIGINS:
        origin = parse_origin(value)
        if origin is None:
            raise ImproperlyConfigured(f"HARNESS_ALLOWED_ORIGINS: {value!r} is not scheme://host[:port].")
        origins.add(origin)
    if settings.HARNESS_PUBLIC_URL:
        public = urlsplit(settings.HARNESS_PUBLIC_URL)
        origin = parse_origin(f"{public.scheme}://{public.netloc}")
        if origin is not None:
            origins.add(origin)
    return frozenset(origins)


def _headers(scope: dict, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == name]


def _scheme(scope: dict) -> str:
    """http or https, decided as Django's `request.is_secure()` does: behind a TLS proxy, by
    SECURE_PROXY_SSL_HEADER when it is configured (production settings do)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        values = _headers(scope, name.removeprefix("HTTP_").replace("_", "-").lower().encode())
        if values:
            return "https" if values[0].split(",", 1)[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def handshake_refusal(scope: dict, allowed: frozenset[Origin]) -> str | None:
    """None when the handshake may proceed, otherwise why not (for the log)."""
    hosts = _headers(scope, b"host")
    if len(hosts) != 1:
        return "no Host header" if not hosts else "several Host headers"
    domain, _ = split_domain_port(hosts[0])
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return f"host {hosts[0]!r} is not in ALLOWED_HOSTS"
    origins = _headers(scope, b"origin")
    if not origins:
        return None if token_from_headers(scope.get("headers", [])) else "no Origin and no token header"
    if len(origins) > 1:
        return "several Origin headers"
    origin = parse_origin(origins[0])
    scheme = _scheme(scope)
    own = parse_origin(f"{scheme}://{hosts[0]}")
    if origin is None or (origin != own and origin not in allowed):
        return f"origin {origins[0]!r} is neither {scheme}://{hosts[0]} nor in HARNESS_ALLOWED_ORIGINS"
    return None


class OriginValidator:
    """ASGI middleware for websockets: refuses (403 at the handshake) what `handshake_refusal` refuses."""

    def __init__(self, application) -> None:  # noqa: ANN001
        self.application = application
        configured_origins()  # a bad HARNESS_ALLOWED_ORIGINS stops the server at start, not at a handshake

    async def __call__(self, scope, receive, send):  # noqa: ANN001, ANN204
        if scope["type"] == "websocket":
            refusal = handshake_refusal(scope, configured_origins())
            if refusal is not None:
                logger.warning("websocket %s refused: %s", scope.get("path"), refusal)
                denier = WebsocketDenier()
                return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
