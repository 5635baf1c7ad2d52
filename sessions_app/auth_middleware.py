"""Websocket authentication by `Authorization: Token <key>` header (the CLI); tokens never go in URLs.
Browsers authenticate with the session cookie (AuthMiddlewareStack).

The key a socket was opened with stays in `scope["auth_token"]`, so the access watchdog can close the
socket when that token is deleted."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def user_for_token(key: str):  # noqa: ANN201
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None and token.user.is_active else AnonymousUser()


def token_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    return None


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):  # noqa: ANN001, ANN204
        key = token_from_headers(scope.get("headers", []))
        if key is not None:
            user = await user_for_token(key)
            scope = {**scope, "user": user, "auth_token": key if user.is_authenticated else None}
        return await super().__call__(scope, receive, send)
