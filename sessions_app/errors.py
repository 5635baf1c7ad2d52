"""Domain errors raised by services and selectors; `sessions_app.api.errors` maps them to HTTP once."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class InvalidInput(DomainError):
    status_code = 400


class NotAllowed(DomainError):
    """The caller may see the object but may not do this to it."""

    status_code = 403


class NotFound(DomainError):
    """Absent, or in an organisation the caller cannot see: the two look the same."""

    status_code = 404


class Conflict(DomainError):
    """The request is valid but the object's state does not allow it now."""

    status_code = 409


class PayloadTooLarge(DomainError):
    status_code = 413


class UnsupportedMediaType(DomainError):
    status_code = 415
