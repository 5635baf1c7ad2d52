"""Documents: requirements (analyst), UI spec (designer), architecture (architect), README and API
reference (docs-writer). Each lists only routes and fields that the generated code really has."""

from __future__ import annotations

from agents_app.offline_project.spec import entity_by_name
from agents_app.offline_project.text import prose

STATUS_TEXT = {200: "200 OK", 201: "201 Created", 202: "202 Accepted", 204: "204 No Content"}


def requirement_list(requirements: list[str]) -> str:
    return "\n".join(f"- {prose(r, 400)}" for r in requirements) or "- (none stated beyond the intent)"


def _field_rows(entity: dict) -> str:
    rows = ["| field | type | required | notes |", "|---|---|---|---|", "| id | int | (set by the API) | |"]
    for f in entity["fields"]:
        note = f"id of a {f['references']}" if f["references"] else ""
        if f["type"] in ("date", "datetime"):
            note = f"ISO 8601 {f['type']} string"
        if f["default"] is not None:
            note = f"default {str(f['default']).lower()}"
        rows.append(f"| {f['name']} | {f['type']} | {'yes' if f['required'] else 'no'} | {note} |")
    return "\n".join(rows)


def route_table(spec: dict) -> str:
    rows = ["| method | path | does | success |", "|---|---|---|---|"]
    for r in spec["routes"]:
        what = r["action"].replace("_", " ")
        if "entity" in r:
            what = f"{r['action']} {r['entity']}"
        rows.append(f"| {r['method']} | `{r['path']}` | {what} | {STATUS_TEXT.get(r['status'], r['status'])} |")
    return "\n".join(rows)


def route_lines(spec: dict) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in spec["routes"]]


ERRORS = (
    "## Errors\n\n"
    '- **400** `{"errors": {"<field>": ["message", ...]}}` — a required field is missing, a value has the wrong '
    "type, a referenced id does not exist, an unknown field was sent, or the body is not a JSON object.\n"
    '- **404** `{"error": "..."}` — no record with that id, or no such path.\n'
    "- **405** — the path exists but not with that method; the `Allow` header lists the methods.\n"
)


def requirements_doc(spec: dict, intent: str, requirements: list[str]) -> str:
    out = f"# Requirements\n\n## Intent\n{prose(intent, 1000)}\n\n## Stated requirements\n{requirement_list(requirements)}\n\n"
    if spec["kind"] == "password_reset":
        ttl = spec["reset"]["token_ttl_seconds"] // 60
        out += (
            "## User stories\n\n"
            "### Reset a forgotten password\nAs a person who forgot my password, I want to ask for a reset token by "
            "email and set a new password with it, so that I can log in again.\n"
            "- Acceptance: asking for a reset answers the same whether or not the email has an account.\n"
            f"- Acceptance: a token expires after {ttl} minutes and works once.\n"
            "- Acceptance: after a reset the old password no longer logs in and the new one does.\n"
            f"- Acceptance: a new password has at least {spec['reset']['min_password_length']} characters.\n\n"
            "## Out of scope in offline mode\n- Sending real email: messages go to an in-memory outbox.\n"
            "- Rate limiting of reset requests.\n"
        )
        return out
    out += "## User stories\n\n"
    for e in spec["entities"]:
        required = ", ".join(f["name"] for f in e["fields"] if f["required"])
        optional = ", ".join(f["name"] for f in e["fields"] if not f["required"]) or "none"
        out += (
            f"### {e['name']}\nAs a user, I want to create, list, view, change and delete {e['label']} records.\n"
            f"- Acceptance: a {e['label']} needs {required}; optional: {optional}.\n"
            f"- Acceptance: a missing required field or a wrong type is refused with 400 naming the field.\n"
            f"- Acceptance: asking for a {e['label']} that does not exist answers 404.\n\n"
        )
    if spec["relations"]:
        out += "## Relations\n" + "".join(
            f"- Each {entity_by_name(spec, r['from'])['label']} belongs to a "
            f"{entity_by_name(spec, r['to'])['label']} (`{r['field']}`); deleting the "
            f"{entity_by_name(spec, r['to'])['label']} deletes it.\n"
            for r in spec["relations"]
        )
        out += "\n"
    out += "## Out of scope in offline mode\n- Accounts and permissions: every caller may use every route.\n- Persistence across restarts: the store is in memory (db/schema.sql is the SQLite schema to move to).\n"
    return out


def ui_spec(spec: dict, requirements: list[str], visual: dict) -> str:
    palette = visual.get("palette") or [{"hex": "#ffffff", "role": "background"}, {"hex": "#2563eb", "role": "accent"}]
    regions = [str(r.get("name", "")) for r in (visual.get("layout") or {}).get("regions", []) if isinstance(r, dict)]
    device = (visual.get("image") or {}).get("device_class", "desktop")
    out = f"# UI specification\n\nDesigned for {prose(device, 40)} first, with a phone breakpoint at 600px.\n\n"
    out += "## Layout regions\n" + "\n".join(f"- {prose(r, 60)}" for r in (regions or ["header", "main"])) + "\n\n"
    out += "## Palette\n" + "\n".join(
        f"- {prose(c.get('hex', ''), 20)} — {prose(c.get('role', 'colour'), 40)}"
        for c in palette
        if isinstance(c, dict)
    )
    out += "\n\n## Screens\n"
    if spec["kind"] == "password_reset":
        for r in spec["routes"]:
            fields = ", ".join(f["name"] for f in r["body"])
            out += f"- **{r['action'].replace('_', ' ')}** form: {fields} → `{r['method']} {r['path']}`\n"
    else:
        for e in spec["entities"]:
            fields = ", ".join(f"{f['name']}{'' if f['required'] else ' (optional)'}" for f in e["fields"])
            out += f"- **{e['name']}**: a list (newest last, each with Delete) and an Add form with {fields}.\n"
    out += (
        "\n## Behaviour\n- Required fields are marked `required`; optional ones may stay empty and are not sent.\n"
        "- API errors appear in the status line, field by field.\n"
    )
    out += f"\n## Requirements covered\n{requirement_list(requirements)}\n"
    out += "\n## Accessibility\n- A label on every input, visible focus, contrast 4.5:1, a live status region.\n"
    return out


def architecture(spec: dict) -> str:
    out = "# Architecture\n\n## Components\n"
    out += (
        "- `web/` — static front end (index.html, app.js, styles.css); calls the API with fetch.\n"
        "- `app/api.py` — WSGI application on the Python standard library: routing, validation, JSON.\n"
        "- `app/store.py` — in-memory store (one table per entity), thread-safe.\n"
        "- `app/server.py` — `python -m app.server --port 8000` serves the API and `web/`.\n"
        "- `app/models.py`, `db/schema.sql` — the record shapes and the SQLite schema for persistent storage.\n"
        "- `tests/` — pytest tests that call the WSGI app in process.\n\n"
    )
    out += "## API\n\n" + route_table(spec) + "\n\n"
    if spec["kind"] == "password_reset":
        ttl = spec["reset"]["token_ttl_seconds"]
        out += (
            "## Reset flow\n1. `POST /api/password-reset/request` with `email`: always 202; when the account exists a "
            "random token is created, only its SHA-256 hash is stored, and the token is sent (offline: appended to the "
            "outbox).\n"
            f"2. `POST /api/password-reset/confirm` with `token` and `password`: the token must exist, be unused and "
            f"younger than {ttl} seconds; the password is stored as a salted PBKDF2 hash and every outstanding token "
            "of the account is spent.\n\n"
        )
    else:
        out += "## Entities\n\n"
        for e in spec["entities"]:
            out += f"### {e['name']} (`{e['table']}`)\n\n{_field_rows(e)}\n\n"
    out += ERRORS
    out += (
        "\n## Decisions\n- Standard library only, so the project runs anywhere Python 3.11 does.\n"
        "- Validation at the edge: every write is checked field by field before it is stored.\n"
        "- SQL identifiers are always quoted, so names such as `order` are safe.\n"
    )
    return out


def api_reference(spec: dict) -> str:
    title = "API reference"
    if spec["kind"] == "documentation":
        title = f"The {spec['service'].replace('_', ' ')} service: API reference"
    out = f"# {title}\n\nBase URL: `http://127.0.0.1:8000` (`python -m app.server`). Bodies are JSON.\n\n"
    if spec["kind"] == "documentation":
        out += (
            f"> Offline mode did not read the {spec['service'].replace('_', ' ')} service's own source. This documents "
            "the contract of the service as this session specifies and implements it (`app/api.py`); check it "
            "against the running service before publishing.\n\n"
        )
    out += "## Routes\n\n" + route_table(spec) + "\n\n"
    if spec["kind"] == "password_reset":
        for r in spec["routes"]:
            fields = ", ".join(f"`{f['name']}` ({f['type']}, required)" for f in r["body"])
            out += f"### {r['method']} {r['path']}\nBody: {fields}. Success: {STATUS_TEXT.get(r['status'], r['status'])}.\n\n"
    else:
        for e in spec["entities"]:
            example = {f["name"]: _example(f) for f in e["fields"] if f["required"]}
            out += f"## {e['name']}\n\n{_field_rows(e)}\n\n"
            out += f"- `GET /api/{e['route']}` — every {e['label']}, by id.\n"
            out += f"- `POST /api/{e['route']}` — create; answers 201 with the record.\n"
            out += f"- `GET /api/{e['route']}/<id>` — one {e['label']}, or 404.\n"
            out += f"- `PUT /api/{e['route']}/<id>` — replace every field (same rules as POST), or 404.\n"
            out += f"- `DELETE /api/{e['route']}/<id>` — 204, or 404.\n\n"
            out += f"Example:\n\n```\ncurl -X POST http://127.0.0.1:8000/api/{e['route']} -H 'Content-Type: application/json' \\\n  -d '{_json(example)}'\n```\n\n"
    return out + ERRORS


def _example(field: dict) -> object:
    return {"str": f"a {field['label']}", "int": 1, "float": 1.5, "bool": True, "date": "2024-05-01",
            "datetime": "2024-05-01T09:30:00"}[field["type"]]  # fmt: skip


def _json(value: object) -> str:
    import json

    return json.dumps(value).replace("'", "")


def readme(spec: dict, intent: str, requirements: list[str]) -> str:
    out = (
        f"# {prose(spec['title'], 80)}\n\n{prose(intent, 400)}\n\n## Requirements\n{requirement_list(requirements)}\n\n"
    )
    out += (
        "## Run it\n```\npython -m app.server --port 8000   # then open http://127.0.0.1:8000/\n```\n\n"
        "## Run the tests\n```\npip install pytest\npytest\n```\n\n"
        "## Layout\n- `app/` the API (standard library only)\n- `web/` the user interface\n"
        "- `db/schema.sql` the SQLite schema\n- `tests/` tests (`pytest`)\n- `docs/` requirements, UI spec, "
        "architecture, API reference, review\n\n"
        "## Routes\n" + "".join(f"- `{line}`\n" for line in route_lines(spec))
    )
    return out


def docs_files(spec: dict, intent: str, requirements: list[str]) -> list[tuple[str, str, str]]:
    reference = "docs/api.md"
    if spec["kind"] == "documentation":
        reference = f"docs/{spec['service'].replace('_', '-')}-api.md"
    return [("README.md", "docs", readme(spec, intent, requirements)), (reference, "docs", api_reference(spec))]
