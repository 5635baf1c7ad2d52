"""The one place where errors become HTTP responses.

Shape (CONTRACT): `{"detail": "what is wrong and how to fix it", "errors": {field: [...]}}`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from sessions_app.errors import DomainError


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list):
                msgs: list[str] = []
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        for sub, sub_msgs in _flatten(item).items():
                            out[f"{key}[{i}].{sub}"] = sub_msgs
                    else:
                        msgs.append(str(item))
                if msgs:
                    out[key] = msgs
            else:
                out[key] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {}


def _summary(errors: dict[str, list[str]]) -> str:
    parts = [f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()]
    return "Invalid input — " + "; ".join(parts) if parts else "Invalid input."


def _unreadable_body(exc: Exception) -> Response | None:
    """Django's own body errors (its multipart parser, when the CSRF check reads the form before DRF does;
    its size and count limits) would otherwise reach Django's bare 400 page: an empty body for an API client."""
    if isinstance(exc, RequestDataTooBig):
        detail = "The request body is larger than the server accepts; send less (upload files as multipart)."
        return Response({"detail": detail, "errors": {}}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        detail = f"Too many form fields or files in one request ({exc}); send fewer."
    elif isinstance(exc, MultiPartParserError):
        detail = f"Multipart form parse error - {exc}. Send multipart/form-data with its boundary, or JSON."
    elif isinstance(exc, UnreadablePostError):
        detail = "The request body could not be read to its end; send it again."
    else:
        return None
    return Response({"detail": detail, "errors": {}}, status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    unreadable = _unreadable_body(exc)
    if unreadable is not None:
        return unreadable
    if isinstance(exc, DomainError):
        return Response({"detail": exc.detail, "errors": exc.errors}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        errors = (
            {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"non_field_errors": [str(m) for m in exc.messages]}
        )
        return Response({"detail": _summary(errors), "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found: the id is wrong or belongs to an organisation you are not in.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        response.data = {"detail": _summary(errors), "errors": errors}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        if isinstance(exc, exceptions.NotAuthenticated):
            detail = "Authentication required: send 'Authorization: Token <key>' (POST /api/v1/auth/token/) or log in."
        elif isinstance(exc, exceptions.AuthenticationFailed):
            detail = f"{detail} Get a new token with POST /api/v1/auth/token/."
        response.data = {"detail": str(detail), "errors": {}}
    return response
