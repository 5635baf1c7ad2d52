"""Schemathesis hooks (loaded by the CLI through SCHEMATHESIS_HOOKS): ids and slugs of real objects.

Random ids only ever meet a 404. About half the generated values are swapped for objects that exist — acme's
session with its runs, approval, artifact and knowledge note, named in HARNESS_SCHEMATHESIS_IDS (JSON) — so the
operations' success paths are fuzzed too. The choice depends on the generated value only, so Hypothesis can
replay and shrink."""

from __future__ import annotations

import json
import os
import re
import zlib
from typing import Any

import schemathesis

IDS: dict[str, Any] = json.loads(os.environ.get("HARNESS_SCHEMATHESIS_IDS", "{}"))
PATH_IDS = ("session_id", "run_id", "approval_id", "artifact_id", "document_id")


_ID_LIKE = re.compile(r"[-a-zA-Z0-9_]+")  # the schema's pattern for slugs and public ids


def _heads(value: Any) -> bool:
    """A stable coin flip: heads for about half of the values."""
    return zlib.crc32(repr(value).encode("utf-8", "surrogatepass")) % 2 == 0


def _swappable(value: Any) -> bool:
    """Only a value the schema allows is swapped for a real id: a negative case (a value that breaks the pattern)
    must reach the API as generated, or the API is blamed for accepting the real id put in its place."""
    return isinstance(value, str) and _ID_LIKE.fullmatch(value) is not None


@schemathesis.hook
def map_path_parameters(context, path_parameters: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001
    if IDS and _heads(path_parameters):
        for name in PATH_IDS:
            if name in path_parameters and name in IDS and _swappable(path_parameters[name]):
                path_parameters[name] = IDS[name]
    return path_parameters


@schemathesis.hook
def map_query(context, query: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001
    if IDS and isinstance(query, dict) and _swappable(query.get("organization")) and _heads(query):
        query["organization"] = IDS["organization"]
    return query


@schemathesis.hook
def map_body(context, body: Any) -> Any:  # noqa: ANN001
    if IDS and isinstance(body, dict) and _heads(body):
        for name, key in (("organization", "organization"), ("session", "session_id"), ("run", "run_id")):
            if name in body and _swappable(body[name]):
                body[name] = IDS[key]
    return body


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:  # noqa: ANN001
    """Drop one failure that is not Harness's: Twisted (under daphne) parses multipart bodies itself before the
    application and answers a body it cannot parse (only a closing boundary, no part) with a bare
    `400 Bad Request` and no headers, while Django's answer (a 400 in the error shape) is discarded. A 400 is
    right; the missing JSON body and Content-Type are the server's, and every other failure is kept."""
    bare_twisted_400 = (
        response.status_code == 400
        and not response.content
        and not response.headers
        and (case.media_type or "").startswith("multipart/form-data")
    )
    return not bare_twisted_400
