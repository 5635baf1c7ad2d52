"""Request parsers for every API view (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

JSON goes through `sessions_app.jsonlimits.json_loads_limited`, the websocket consumer's loader too (a depth
limit, no RecursionError, no NaN, no lone surrogate); a multipart body must be well formed up to its closing
boundary. What cannot be read is a 400 in the standard error body, never a 500 or a silently shortened form.
"""

from __future__ import annotations

from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from sessions_app.jsonlimits import MAX_DEPTH, UnsafeJson, json_loads_limited

__all__ = ["FormParser", "LimitedJSONParser", "CheckedMultiPartParser"]


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser with a nesting limit (DRF hands it the whole body as a BytesIO)."""

    max_depth = MAX_DEPTH

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            return json_loads_limited(stream.read().decode(encoding), max_depth=self.max_depth)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding} (byte {exc.start}); send UTF-8.") from None
        except UnsafeJson as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class _Tail:
    """A read-through stream that remembers the last bytes read: the closing boundary must be among them."""

    KEEP = 1024

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.tail = b""

    def read(self, *args: Any) -> bytes:
        chunk = self.stream.read(*args)
        self.tail = (self.tail + chunk)[-self.KEEP :]
        return chunk


class CheckedMultiPartParser(MultiPartParser):
    """DRF's multipart parser; a body cut short before its closing boundary is refused, not half-read."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None) -> Any:
        tail = _Tail(stream)
        try:
            result = super().parse(tail, media_type, parser_context)
        except ParseError as exc:
            raise ParseError(f"{exc.detail} Send multipart/form-data with its boundary, or JSON.") from None
        boundary = (media_type or "").partition("boundary=")[2].split(";")[0].strip().strip('"')
        if boundary and f"--{boundary}--".encode() not in tail.tail:
            raise ParseError("Multipart form parse error - the body ends before its closing boundary; send it again.")
        return result
