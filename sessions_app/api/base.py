"""What every sessions API view shares: input parsing and the session lookup (restricted to the caller)."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.serializers import CharField, Serializer
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
    _refuse_non_strings(serializer, data)
    _refuse_empty_query_values(serializer, data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _refuse_empty_query_values(serializer: Serializer, data: Any) -> None:
    """DRF reads `?limit=` (an empty value of an optional field) as "not given"; the schema says an integer, so it
    is a 400 — leave a parameter out for its default. Fields that allow blank text keep taking ''."""
    if not isinstance(data, QueryDict):
        return
    empty = {
        name: ["Empty: give a value, or leave the parameter out."]
        for name, field in serializer.fields.items()
        if data.get(name) == "" and not getattr(field, "allow_blank", False)
    }
    if empty:
        raise ValidationError(empty)


def _refuse_non_strings(serializer: Serializer, data: Any) -> None:
    """DRF turns a JSON number given for a text field into its digits; the schema says string, so it is a 400."""
    if not isinstance(data, dict):
        return
    wrong: dict[str, list[str]] = {}
    for name, field in serializer.fields.items():
        value = data.get(name)
        child = getattr(field, "child", None)
        if isinstance(field, CharField) and isinstance(value, int | float):
            wrong[name] = ["Not a string: send text in quotes."]
        elif isinstance(child, CharField) and isinstance(value, list) and any(not isinstance(v, str) for v in value):
            wrong[name] = ["Not a list of strings: send each item as text in quotes."]
    if wrong:
        raise ValidationError(wrong)


class SessionScopedView(APIView):
    """A view under `sessions/{id}/`: the session is looked up among those the caller may see."""

    def get_session(self, request: Request, session_id: str):  # noqa: ANN201
        return session_get(user=request.user, public_id=session_id)
