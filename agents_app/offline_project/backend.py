"""The backend agent's files: a WSGI API on the standard library, its store and a server.

`app/api.py` exposes `application` (and `create_app(store=None)` for tests), full CRUD per entity of
the spec, JSON in and out, 400 with `{"errors": {field: [...]}}`, 404 for missing ids and unknown
paths, 405 with an Allow header for wrong methods. `python -m app.server` serves it and `web/`.
"""

from __future__ import annotations

from agents_app.offline_project.spec import entity_by_name


def _init(spec: dict) -> str:
    return f'"""{spec["kind"]} project generated offline: the HTTP API lives in app.api."""\n'


STORE = '''"""In-memory storage: one table per entity, integer ids, safe to share between threads."""

from __future__ import annotations

import copy
import threading


class Store:
    def __init__(self) -> None:
        self._tables: dict[str, dict[int, dict]] = {}
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def all(self, table: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(row) for _, row in sorted(self._tables.get(table, {}).items())]

    def get(self, table: str, item_id: int) -> dict | None:
        with self._lock:
            row = self._tables.get(table, {}).get(item_id)
            return copy.deepcopy(row) if row is not None else None

    def insert(self, table: str, values: dict) -> dict:
        with self._lock:
            item_id = self._next.get(table, 1)
            self._next[table] = item_id + 1
            row = {"id": item_id, **copy.deepcopy(values)}
            self._tables.setdefault(table, {})[item_id] = row
            return copy.deepcopy(row)

    def replace(self, table: str, item_id: int, values: dict) -> dict | None:
        with self._lock:
            rows = self._tables.get(table, {})
            if item_id not in rows:
                return None
            rows[item_id] = {"id": item_id, **copy.deepcopy(values)}
            return copy.deepcopy(rows[item_id])

    def delete(self, table: str, item_id: int) -> bool:
        with self._lock:
            return self._tables.get(table, {}).pop(item_id, None) is not None

    def ids_where(self, table: str, field: str, value: object) -> list[int]:
        with self._lock:
            return [i for i, row in sorted(self._tables.get(table, {}).items()) if row.get(field) == value]
'''

SERVER = '''"""Serve the API and the web/ front end: `python -m app.server [--host HOST] [--port PORT]`."""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path
from wsgiref.simple_server import make_server

from app.api import application as api

WEB = (Path(__file__).resolve().parent.parent / "web").resolve()


def site(environ: dict, start_response):  # noqa: ANN201
    path = environ.get("PATH_INFO") or "/"
    if path == "/api" or path.startswith("/api/"):
        return api(environ, start_response)
    name = "index.html" if path in ("", "/") else path.lstrip("/")
    target = (WEB / name).resolve()
    if WEB not in target.parents or not target.is_file():
        body = b"not found"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    body = target.read_bytes()
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    with make_server(args.host, args.port, site) as server:
        print(f"serving on http://{args.host}:{args.port}/")
        server.serve_forever()


if __name__ == "__main__":
    main()
'''

CORE = '''
JSON_TYPE = "application/json"
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large"}
MAX_BODY = 1_000_000


class HTTPError(Exception):
    """An answer other than success: a status, a JSON payload and extra headers."""

    def __init__(self, status: int, payload: dict, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(status)
        self.status, self.payload, self.headers = status, payload, headers or []


def invalid(errors: dict[str, list[str]]) -> HTTPError:
    return HTTPError(400, {"errors": errors})


def read_json(environ: dict) -> object:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise invalid({"body": ["Content-Length is not a number."]}) from None
    if length > MAX_BODY:
        raise HTTPError(413, {"errors": {"body": [f"The body is larger than {MAX_BODY} bytes."]}})
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    if not raw.strip():
        raise invalid({"body": ["Send a JSON object."]})
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid({"body": [f"Invalid JSON: {exc}"]}) from None
'''

VALIDATION = '''

def check_value(kind: str, value: object) -> str | None:
    """Why `value` is not a `kind`, or None when it is."""
    if kind == "str":
        if not isinstance(value, str):
            return "Must be a string."
        return "Must not be longer than 10000 characters." if len(value) > 10_000 else None
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else "Must be a whole number."
    if kind == "float":
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "Must be a number."
    if kind == "bool":
        return None if isinstance(value, bool) else "Must be true or false."
    if kind in ("date", "datetime"):
        if not isinstance(value, str):
            return f"Must be an ISO 8601 {kind} string."
        try:
            (date if kind == "date" else datetime).fromisoformat(value)
        except ValueError:
            return f"Must be an ISO 8601 {kind} string."
        return None
    return f"Unknown type {kind}."


def validate(store: Store, entity: dict, data: object) -> dict:
    """The record to store, or a 400 naming every field that is wrong."""
    if not isinstance(data, dict):
        raise invalid({"body": ["Send a JSON object."]})
    errors: dict[str, list[str]] = {}
    record: dict = {}
    known = {field["name"] for field in entity["fields"]}
    for name in sorted(set(data) - known - {"id"}):
        errors.setdefault(name, []).append("Unknown field.")
    for field in entity["fields"]:
        name, value = field["name"], data.get(field["name"])
        if value is None or (field["type"] == "str" and isinstance(value, str) and not value.strip()):
            if field["required"]:
                errors.setdefault(name, []).append("This field is required.")
            record[name] = field["default"]
            continue
        problem = check_value(field["type"], value)
        if problem is None and field["references"]:
            parent = ENTITIES[field["references"]]
            if store.get(parent["table"], value) is None:
                problem = f"No {parent['label']} with id {value}."
        if problem:
            errors.setdefault(name, []).append(problem)
        else:
            record[name] = float(value) if field["type"] == "float" else value
    if errors:
        raise invalid(errors)
    return record


def found(store: Store, entity: dict, item_id: int) -> dict:
    row = store.get(entity["table"], item_id)
    if row is None:
        raise HTTPError(404, {"error": f"No {entity['label']} with id {item_id}."})
    return row


def delete_with_children(store: Store, entity: dict, item_id: int) -> None:
    """Delete a row and, as the schema's ON DELETE CASCADE does, the rows that point to it."""
    for child in ENTITIES.values():
        for field in child["fields"]:
            if field["references"] == entity["name"]:
                for child_id in store.ids_where(child["table"], field["name"], item_id):
                    delete_with_children(store, child, child_id)
    store.delete(entity["table"], item_id)
'''

APP = '''

def _compile(pattern: str) -> re.Pattern:
    return re.compile("^" + re.escape(pattern).replace(re.escape("<id>"), "(?P<id>[0-9]{1,18})") + "/?$")


_COMPILED = [(method, _compile(pattern), handler) for method, pattern, handler in ROUTES]


def dispatch(store: Store, method: str, path: str, environ: dict) -> tuple[int, object, list[tuple[str, str]]]:
    allowed = []
    for route_method, regex, handler in _COMPILED:
        match = regex.match(path)
        if not match:
            continue
        if route_method != method:
            allowed.append(route_method)
            continue
        args = [int(match.group("id"))] if "id" in regex.groupindex else []
        status, payload = handler(store, environ, *args)
        return status, payload, []
    if allowed:
        raise HTTPError(405, {"error": f"Use {', '.join(allowed)} on {path}."}, [("Allow", ", ".join(allowed))])
    raise HTTPError(404, {"error": f"No route for {path}."})


def create_app(store: Store | None = None):  # noqa: ANN201
    """A WSGI application over `store` (a fresh in-memory store by default)."""
    store = store if store is not None else Store()

    def application(environ: dict, start_response):  # noqa: ANN202
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = environ.get("PATH_INFO") or "/"
        try:
            status, payload, headers = dispatch(store, method, path, environ)
        except HTTPError as exc:
            status, payload, headers = exc.status, exc.payload, exc.headers
        body = b"" if status == 204 else json.dumps(payload).encode("utf-8")
        start_response(
            f"{status} {REASONS.get(status, 'Unknown')}",
            [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    application.store = store
    return application


application = create_app()
'''


def _entity_literal(entity: dict) -> dict:
    return {
        "name": entity["name"], "label": entity["label"], "table": entity["table"],
        "fields": [{k: f[k] for k in ("name", "type", "required", "references", "default")} for f in entity["fields"]],
    }  # fmt: skip


def _handlers(spec: dict, entity: dict) -> str:
    const, one, many = entity["snake"].upper() + "_ENTITY", entity["snake"], entity["plural"]
    return f"""

def list_{many}(store: Store, environ: dict) -> tuple[int, object]:
    return 200, store.all({const}["table"])


def create_{one}(store: Store, environ: dict) -> tuple[int, object]:
    record = validate(store, {const}, read_json(environ))
    return 201, store.insert({const}["table"], record)


def get_{one}(store: Store, environ: dict, item_id: int) -> tuple[int, object]:
    return 200, found(store, {const}, item_id)


def update_{one}(store: Store, environ: dict, item_id: int) -> tuple[int, object]:
    found(store, {const}, item_id)
    record = validate(store, {const}, read_json(environ))
    return 200, store.replace({const}["table"], item_id, record)


def delete_{one}(store: Store, environ: dict, item_id: int) -> tuple[int, object]:
    found(store, {const}, item_id)
    delete_with_children(store, {const}, item_id)
    return 204, None
"""


def api_source(spec: dict) -> str:
    routes_doc = "\n".join(f"    {r['method']:<6} {r['path']}" for r in spec["routes"])
    parts = [
        f'"""HTTP API for {spec["title"]!r}: a WSGI application on the standard library.\n\n'
        f"Routes:\n{routes_doc}\n\n"
        'Errors: 400 {"errors": {field: [messages]}}, 404 {"error": ...}, 405 with an Allow header.\n"""\n\n'
        "from __future__ import annotations\n\nimport json\nimport re\nfrom datetime import date, datetime\n\n"
        "from app.store import Store\n",
        CORE,
        "\n\n# --- entities (from the session's spec) ---\n\n",
    ]
    for entity in spec["entities"]:
        parts.append(f"{entity['snake'].upper()}_ENTITY = {_entity_literal(entity)!r}\n")
    parts.append(
        "ENTITIES = {" + ", ".join(f"{e['name']!r}: {e['snake'].upper()}_ENTITY" for e in spec["entities"]) + "}\n"
    )
    parts.append(VALIDATION)
    for entity in spec["entities"]:
        parts.append(_handlers(spec, entity))
    parts.append("\n\nROUTES = [\n")
    for route in spec["routes"]:
        entity = entity_by_name(spec, route["entity"])
        name = entity["plural"] if route["action"] == "list" else entity["snake"]
        parts.append(f"    ({route['method']!r}, {route['path']!r}, {route['action']}_{name}),\n")
    parts.append("]\n")
    parts.append(APP)
    return "".join(parts)


def files(spec: dict, api: str | None = None) -> list[tuple[str, str, str]]:
    """(path, kind, source without header) for the backend agent; `api` replaces the CRUD API (reset flow)."""
    api = api if api is not None else api_source(spec)
    return [
        ("app/__init__.py", "code", _init(spec)),
        ("app/store.py", "code", STORE),
        ("app/api.py", "code", api),
        ("app/server.py", "code", SERVER),
    ]
