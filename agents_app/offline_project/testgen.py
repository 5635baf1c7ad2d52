"""The test-engineer's files: tests that drive every route of app/api.py through the WSGI app in
process, a root conftest.py and pytest.ini so that plain `pytest` in the project works."""

from __future__ import annotations

from agents_app.offline_project import reset
from agents_app.offline_project.spec import entity_by_name

SAMPLE = {"int": 3, "float": 2.5, "bool": True, "date": "2024-05-01", "datetime": "2024-05-01T09:30:00"}
CHANGED = {"int": 7, "float": 4.25, "bool": False, "date": "2024-06-02", "datetime": "2024-06-02T10:45:00"}
WRONG = {"str": 12345, "int": "three", "float": "many", "bool": "yes", "date": "not a date", "datetime": "later"}

CONFTEST = '''"""Makes `import app` work from the project root, whatever directory pytest is started from."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
'''

PYTEST_INI = "[pytest]\ntestpaths = tests\npythonpath = .\naddopts = -p no:cacheprovider\n"

CLIENT = '''
import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from app.api import ROUTES, create_app


class Client:
    """Calls the WSGI application directly: no server, no network."""

    def __init__(self) -> None:
        self.app = create_app()

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        raw = b"" if body is None else json.dumps(body).encode("utf-8")
        environ: dict = {}
        setup_testing_defaults(environ)
        environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": "application/json",
                        "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)})
        seen: dict = {}

        def start_response(status: str, headers: list, exc_info: object = None) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

        chunks = b"".join(self.app(environ, start_response))
        assert seen["headers"]["Content-Type"] == "application/json"
        return seen["status"], json.loads(chunks) if chunks else None

    def get(self, path: str) -> tuple[int, object]:
        return self.request("GET", path)

    def post(self, path: str, body: object) -> tuple[int, object]:
        return self.request("POST", path, body)

    def put(self, path: str, body: object) -> tuple[int, object]:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> tuple[int, object]:
        return self.request("DELETE", path)


@pytest.fixture
def client() -> Client:
    return Client()
'''


def _sample(entity: dict, field: dict, changed: bool = False) -> object:
    if field["type"] == "str":
        return f"{'Changed' if changed else 'Sample'} {entity['label']} {field['label']}"
    return (CHANGED if changed else SAMPLE)[field["type"]]


def _valid(entity: dict, changed: bool = False) -> dict:
    return {f["name"]: _sample(entity, f, changed) for f in entity["fields"] if not f["references"]}


def _maker(spec: dict, entity: dict) -> str:
    one = entity["snake"]
    lines = [f"\n\ndef make_{one}(client: Client, **changes: object) -> dict:"]
    lines.append(f"    body = dict(VALID_{one.upper()})")
    for field in entity["fields"]:
        if field["references"]:
            parent = entity_by_name(spec, field["references"])
            lines.append(f"    body[{field['name']!r}] = make_{parent['snake']}(client)['id']")
    lines.append("    body.update(changes)")
    lines.append(f"    status, created = client.post({'/api/' + entity['route']!r}, body)")
    lines.append("    assert status == 201, created")
    lines.append("    return created")
    return "\n".join(lines) + "\n"


def _entity_tests(spec: dict, entity: dict) -> str:
    one, many = entity["snake"], entity["plural"]
    path = "/api/" + entity["route"]
    display = next(f for f in entity["fields"] if f["name"] == entity["display"])
    required = [f["name"] for f in entity["fields"] if f["required"]]
    optional = [f["name"] for f in entity["fields"] if not f["required"]]
    typed = next((f for f in entity["fields"] if not f["references"]), display)
    refs = [f for f in entity["fields"] if f["references"]]
    changed = _sample(entity, display, changed=True)
    out = f'''

def test_create_and_get_a_{one}(client):
    created = make_{one}(client)
    assert isinstance(created["id"], int)
    for name, value in VALID_{one.upper()}.items():
        assert created[name] == value
    assert client.get(f"{path}/{{created['id']}}") == (200, created)


def test_list_{many}(client):
    assert client.get({path!r}) == (200, [])
    first, second = make_{one}(client), make_{one}(client)
    status, items = client.get({path!r})
    assert status == 200 and [item["id"] for item in items] == [first["id"], second["id"]]


def test_update_a_{one}(client):
    created = make_{one}(client)
    body = {{**created, {display["name"]!r}: {changed!r}}}
    status, updated = client.put(f"{path}/{{created['id']}}", body)
    assert status == 200 and updated[{display["name"]!r}] == {changed!r} and updated["id"] == created["id"]
    assert client.get(f"{path}/{{created['id']}}") == (200, updated)


def test_delete_a_{one}(client):
    created = make_{one}(client)
    assert client.delete(f"{path}/{{created['id']}}") == (204, None)
    assert client.get(f"{path}/{{created['id']}}")[0] == 404
    assert client.get({path!r}) == (200, [])


@pytest.mark.parametrize("field", {required!r})
def test_a_{one}_without_a_required_field_is_400(client, field):
    valid = make_{one}(client)
    body = {{k: v for k, v in valid.items() if k not in ("id", field)}}
    status, answer = client.post({path!r}, body)
    assert status == 400 and field in answer["errors"]
    status, answer = client.put(f"{path}/{{valid['id']}}", body)
    assert status == 400 and field in answer["errors"]


def test_a_{one}_with_a_wrong_type_is_400(client):
    valid = make_{one}(client)
    body = {{**valid, {typed["name"]!r}: {WRONG[typed["type"]]!r}}}
    del body["id"]
    status, answer = client.post({path!r}, body)
    assert status == 400 and {typed["name"]!r} in answer["errors"]
    assert client.post({path!r}, ["not", "an", "object"])[0] == 400


def test_a_missing_{one}_is_404(client):
    body = {{k: v for k, v in make_{one}(client).items() if k != "id"}}
    assert client.get("{path}/999")[0] == 404
    assert client.put("{path}/999", body)[0] == 404
    assert client.delete("{path}/999")[0] == 404


def test_wrong_methods_on_{many}_are_405(client):
    assert client.request("PATCH", {path!r})[0] == 405
    assert client.request("POST", "{path}/1", {{}})[0] == 405
'''
    if optional:
        out += f"""

def test_a_{one}_needs_no_optional_field(client):
    created = make_{one}(client, **{{name: None for name in {optional!r}}})
    for name in {optional!r}:
        assert name in created
"""
    for field in refs:
        parent = entity_by_name(spec, field["references"])
        out += f'''

def test_a_{one}_needs_an_existing_{parent["snake"]}(client):
    body = {{k: v for k, v in make_{one}(client).items() if k != "id"}}
    body[{field["name"]!r}] = 999
    status, answer = client.post({path!r}, body)
    assert status == 400 and {field["name"]!r} in answer["errors"]


def test_deleting_a_{parent["snake"]}_deletes_its_{many}(client):
    created = make_{one}(client)
    assert client.delete(f"/api/{parent["route"]}/{{created[{field["name"]!r}]}}")[0] == 204
    assert client.get(f"{path}/{{created['id']}}")[0] == 404
'''
    return out


def crud_tests(spec: dict) -> str:
    parts = ['"""Tests of every route of app/api.py, driven through the WSGI app in process (no network)."""\n', CLIENT]
    for entity in spec["entities"]:
        parts.append(f"\nVALID_{entity['snake'].upper()} = {_valid(entity)!r}\n")
    for entity in spec["entities"]:
        parts.append(_maker(spec, entity))
    for entity in spec["entities"]:
        parts.append(_entity_tests(spec, entity))
    tested = sorted({(r["method"], r["path"]) for r in spec["routes"]})
    parts.append(f'''

def test_unknown_paths_and_bad_json_are_refused(client):
    assert client.get("/api/nowhere")[0] == 404
    status, answer = client.request("POST", {"/api/" + spec["entities"][0]["route"]!r})
    assert status == 400 and "body" in answer["errors"]


def test_every_route_is_tested():
    """The tests above cover exactly these routes; a new route needs its tests."""
    assert sorted({{(method, path) for method, path, _ in ROUTES}}) == {tested!r}
''')
    return "".join(parts)


def files(spec: dict) -> list[tuple[str, str, str]]:
    source = reset.tests_source(spec) if spec["kind"] == "password_reset" else crud_tests(spec)
    return [
        ("conftest.py", "tests", CONFTEST),
        ("pytest.ini", "tests", PYTEST_INI),
        ("tests/test_api.py", "tests", source),
    ]
