"""What every sessions API view shares: input parsing and the session lookup (restricted to the caller)."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework.request import Request
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from sessions_app.selectors import session_get

LIST_FIELDS = ("requirements", "screenshots", "agents")


def request_data(request: Request) -> Any:
    """JSON as is; multipart/form with `x` or `x[]` repeated turned into lists (DRF's `request.data`
    already holds the uploaded files, so they are taken from there exactly once)."""
    data = request.data
    if not isinstance(data, QueryDict):
        return data
    flat: dict[str, Any] = {}
    for key in data:
        base = key[:-2] if key.endswith("[]") else key
        if base in LIST_FIELDS:
            flat.setdefault(base, []).extend(data.getlist(key))
        else:
            flat[base] = data.get(key)
    return flat


def parse(serializer_class: type[Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class SessionScopedView(APIView):
    """A view under `sessions/{id}/`: the session is looked up among those the caller may see."""

    def get_session(self, request: Request, session_id: str):  # noqa: ANN201
        return session_get(user=request.user, public_id=session_id)
