"""The OpenAPI schema tells the whole truth: every operation lists the errors it can answer with.

`ErrorAutoSchema` (DEFAULT_SCHEMA_CLASS) adds, in the contract's error shape (`ErrorOutput`), the statuses an
operation can return besides its success: 401 when it needs a login, 403 where a permission (or CSRF) can
refuse it, 404 when it names an object (a path id, or an organisation, session or run in its input), 400 when
it takes input, 409 for state changes, 413/415 for uploads and 429 for throttled operations. A status that an
operation's own `@extend_schema(responses=…)` documents is left as it is.
"""

from __future__ import annotations

import uritemplate
from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

# Input fields that name an object the caller must be able to see: a wrong one is a 404, like a wrong path id.
REFERENCE_FIELDS = {"organization", "session", "parent", "run", "refines"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# "+": an empty string is its own case (drf-spectacular adds `oneOf [this, maxLength 0]` for blank-allowed fields).
NO_NUL = "^[^\\x00]+$"
# What Python's str.strip() removes, spelled out (ECMA's \s differs: it lacks \x1c-\x1f and \x85, adds \ufeff).
STRIPPED = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NOT_BLANK = f"^[^\\x00]*[^\\x00{STRIPPED}][^\\x00]*$"


class ErrorOutput(serializers.Serializer):
    """Every error: what is wrong and how to fix it, and per field what was wrong with it."""

    detail = serializers.CharField(help_text="What is wrong and how to fix it.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per input field (dotted for nested ones), its problems; empty when no field is at fault.",
    )


ERRORS = {
    "400": "Invalid input: `errors` names each field and what is wrong with it.",
    "401": "Not authenticated: send `Authorization: Token <key>` (POST /api/v1/auth/token/) or log in.",
    "403": "You may see this object but not do this to it (or the CSRF check of a cookie login failed).",
    "404": "Not found: the id is wrong or belongs to an organisation you are not in.",
    "409": "The request is valid but the object's state does not allow it now.",
    "413": "An upload is larger than the configured limit.",
    "415": "An upload is not of a type this operation accepts.",
    "429": "Too many requests: wait for `Retry-After` seconds.",
}


class ErrorAutoSchema(AutoSchema):
    def _get_serializer_field_meta(self, field, direction: str) -> dict:  # noqa: ANN001
        """An output field with `default=None` renders null when its source is missing (`parent.public_id` of a
        session without an epic): say so."""
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "response" and isinstance(field, serializers.Field) and field.default is None:
            meta["nullable"] = True
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not any(isinstance(v, RegexValidator) for v in field.validators)
        ):
            # DRF's CharField refuses NUL characters (PostgreSQL text cannot hold them), and a field that trims
            # whitespace and may not be blank needs one character that str.strip() keeps.
            meta["pattern"] = NOT_BLANK if field.trim_whitespace and not field.allow_blank else NO_NUL
        return meta

    def map_parsers(self) -> list[str]:
        """Document JSON for every body, and multipart only where a file is uploaded: form encodings cannot say
        `null` or a nested value, so the forms a view also parses are not offered to generated clients."""
        media_types = super().map_parsers()
        wanted = {"application/json", "multipart/form-data"} if self.takes_files() else {"application/json"}
        return [m for m in media_types if m in wanted] or media_types

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self.error_statuses():
            if code not in responses:
                response = OpenApiResponse(ErrorOutput, description=ERRORS[code])
                responses[code] = self._get_response_for_code(response, code, ["application/json"], direction)
        return responses

    def error_statuses(self) -> list[str]:
        codes: set[str] = set()
        authenticated = not any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        takes_body = bool(self.request_serializers())
        inputs = self.input_field_names()
        if authenticated:
            codes.add("401")
        if authenticated and self.method in UNSAFE_METHODS:
            codes.add("403")  # a role or a share too weak for the action, or the CSRF check of a cookie login
        if self.path_parameter_names() or inputs & REFERENCE_FIELDS:
            codes.add("404")
        if inputs:
            codes.add("400")
        if authenticated and self.method in {"POST", "PUT", "PATCH"}:
            codes.add("409")
        if takes_body:
            codes.add("415")  # a body in a media type the operation does not parse
        if self.takes_files():
            codes.add("413")
        if self.view.get_throttles():
            codes.add("429")
        return sorted(codes)

    def path_parameter_names(self) -> list[str]:
        return list(uritemplate.variables(self.path))

    def request_serializers(self) -> list[serializers.Serializer]:
        """The operation's body serializers (one per media type when `@extend_schema(request={...})` says so)."""
        if self.method not in {"POST", "PUT", "PATCH"}:
            return []  # asking a GET view for its request serializer only makes drf-spectacular guess
        request = self.get_request_serializer()
        candidates = request.values() if isinstance(request, dict) else [request]
        return [s for s in map(force_instance, candidates) if isinstance(s, serializers.Serializer)]

    def input_field_names(self) -> set[str]:
        names = {p["name"] for p in self._get_parameters() if p.get("in") == "query"}
        for request in self.request_serializers():
            names |= set(request.fields)
        return names

    def takes_files(self) -> bool:
        return any(
            isinstance(field, serializers.FileField) or isinstance(getattr(field, "child", None), serializers.FileField)
            for request in self.request_serializers()
            for field in request.fields.values()
        )
