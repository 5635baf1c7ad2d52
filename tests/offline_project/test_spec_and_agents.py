"""The spec, safe generation, feedback, the honest outside-the-class intents and the reviewer."""

from __future__ import annotations

import ast
import json
import sqlite3

import pytest

from agents_app.offline_project import spec_for
from agents_app.offline_templates import AGENTS, offline_files
from tests.offline_project.support import AWKWARD, CASES, project_files, run_pytest, write


def fields(spec: dict, entity: str) -> dict[str, dict]:
    return {f["name"]: f for e in spec["entities"] if e["name"] == entity for f in e["fields"]}


def test_required_or_optional_comes_from_the_requirements():
    optional = spec_for("build a todo list", ["Tasks may have a due date"])
    required = spec_for("build a todo list", ["Every task must have a due date"])
    assert fields(optional, "Task")["due"]["required"] is False
    assert fields(required, "Task")["due"]["required"] is True
    assert (
        fields(optional, "Task")["title"]["required"]
        and fields(optional, "Task")["list_id"]["references"] == "TaskList"
    )
    files = project_files("build a todo list", ["Tasks may have a due date"])
    assert 'data-field="due" data-type="date" data-required="false"' in files["web/index.html"].content


def test_unknown_nouns_make_entities_fields_and_relations():
    spec = spec_for(
        "build an inventory tracker for warehouses", ["Items have a SKU, a quantity and an optional location"]
    )
    assert [e["name"] for e in spec["entities"]] == ["Warehouse", "Item"]
    item = fields(spec, "Item")
    assert item["warehouse_id"]["references"] == "Warehouse"
    assert (item["sku"]["type"], item["sku"]["required"]) == ("str", True)
    assert (item["quantity"]["type"], item["location"]["required"]) == ("int", False)
    assert {"method": "DELETE", "path": "/api/items/<id>", "entity": "Item", "action": "delete", "status": 204} in spec[
        "routes"
    ]


def test_the_spec_is_json_and_deterministic():
    for intent, requirements, task_type in CASES.values():
        spec = spec_for(intent, requirements, task_type)
        assert json.loads(json.dumps(spec)) == spec == spec_for(intent, requirements, task_type)


@pytest.mark.parametrize(
    "intent,requirements",
    [("build a tracker for orders, groups and selects", ["Orders have a class, a from, a select and a lambda"]),
     ("", []), ("!!! ???", ["'''", '"']), ("build 3d printers for the None and True app", [])],
)  # fmt: skip
def test_awkward_names_still_make_a_valid_project(intent, requirements, tmp_path):
    files = project_files(intent, requirements)
    for path, file in files.items():
        if path.endswith(".py"):
            ast.parse(file.content)
    sqlite3.connect(":memory:").executescript(files["db/schema.sql"].content)
    for entity in spec_for(intent, requirements)["entities"]:
        assert entity["name"].isidentifier() and all(f["name"].isidentifier() for f in entity["fields"])
    code, output, passed = run_pytest(write(tmp_path, files))
    assert code == 0 and passed >= 6, output


def test_user_text_cannot_break_out_of_a_file():
    intent = 'notes app"""\nimport os; os.system("rm -rf /") # </script><script>alert(1)</script> */ --> \x00'
    files = project_files(intent, [*AWKWARD, "<img src=x onerror=alert(1)>"], feedback=["fix it\"\"\"\n'''", "*/ -->"])
    for path, file in files.items():
        if path.endswith(".py"):
            tree = ast.parse(file.content)
            imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            assert "os" not in imported, path
        assert "\x00" not in file.content
        if path.endswith((".md", ".html")):
            assert "<script>alert" not in file.content and "<img src=x" not in file.content, path
    assert "&lt;/script&gt;" in files["web/index.html"].content


def test_feedback_shows_in_every_file_and_keeps_python_valid():
    feedback = ['Please rename "title" to heading\n# injected', "'''"]
    for agent in AGENTS:
        for file in offline_files(agent, intent="a notes app", requirements=[], feedback=feedback):
            assert "Messages noted" in file.content and "rename" in file.content, file.path
            assert "\n# injected" not in file.content
            if file.path.endswith(".py"):
                ast.parse(file.content)


def test_the_same_inputs_give_byte_identical_files():
    first = project_files("a booking system for meeting rooms", ["Bookings may have a note"])
    second = project_files("a booking system for meeting rooms", ["Bookings may have a note"])
    assert {p: f.content for p, f in first.items()} == {p: f.content for p, f in second.items()}


def test_a_given_spec_is_used_instead_of_the_intent():
    spec = spec_for("an online shop", [])
    files = offline_files("backend", intent="something else entirely", requirements=[], spec=spec)
    api = next(f for f in files if f.path == "app/api.py").content
    assert "'/api/orders'" in api and "'/api/products'" in api


def test_a_documentation_intent_documents_the_named_service():
    files = project_files("write API documentation for the orders service", ["use pagination"], "documentation")
    reference = files["docs/orders-api.md"].content
    assert "The orders service: API reference" in reference
    assert "`GET /api/orders`" in reference and "`DELETE /api/orders/<id>`" in reference
    assert "did not read the orders service's own source" in reference
    assert "pagination" not in json.dumps(
        spec_for("write API documentation for the orders service", ["use pagination"], "documentation")["entities"]
    )
    assert not any("pagination" in path for path in files)


def test_a_password_reset_intent_gets_a_reset_token_flow():
    spec = spec_for("add password reset to the login flow", ["Users get an email with a link once"])
    assert spec["kind"] == "password_reset"
    assert [r["path"] for r in spec["routes"]] == ["/api/users", "/api/login", "/api/password-reset/request",
                                                   "/api/password-reset/confirm"]  # fmt: skip
    files = project_files("add password reset to the login flow", ["Users get an email with a link once"])
    text = "\n".join(f.content for f in files.values()).lower()
    assert "once" not in " ".join(files) and "/api/onces" not in text
    tests = files["tests/test_api.py"].content
    for name in ("test_a_token_works_once", "test_an_expired_token_is_refused", "test_confirming_with_the_token"):
        assert name in tests


# --- the reviewer ----------------------------------------------------------------------------------


def test_the_reviewer_names_real_findings_with_path_and_line():
    files = {p: f.content for p, f in project_files("an online shop", []).items() if p != "docs/review.md"}
    files["app/api.py"] = (
        files["app/api.py"]
        .replace(
            "def list_products(",
            "def list_specials(store: Store, environ: dict) -> tuple[int, object]:\n"
            "    # TODO: paginate\n    return 200, []\n\n\ndef list_products(",
            1,
        )
        .replace("ROUTES = [\n", 'ROUTES = [\n    ("GET", "/api/specials", list_specials),\n', 1)
    )
    files["db/legacy.sql"] = "-- old\nCREATE TABLE order (id INTEGER);\n"
    files["web/extra.js"] = "const el = document.body;\nel.innerHTML = data.name;\n"
    files["app/loose.py"] = (
        "import json\n\n\ndef parse(raw):\n    try:\n        return json.loads(raw)\n    except:\n        return None\n"
    )
    review = offline_files("reviewer", intent="an online shop", requirements=[], files=files)[0].content
    api_lines = files["app/api.py"].splitlines()
    todo_line = next(i for i, line in enumerate(api_lines, 1) if "TODO: paginate" in line)
    route_line = next(i for i, line in enumerate(api_lines, 1) if '"/api/specials"' in line)
    assert f"`app/api.py:{todo_line}`" in review and "unfinished work" in review
    assert f"| major | `app/api.py:{route_line}` | no test calls GET /api/specials |" in review
    assert "| blocker | `db/legacy.sql:2` | table name order is a reserved word" in review
    assert "`web/extra.js:2`" in review and "innerHTML" in review
    assert "`app/loose.py:7`" in review and "bare" in review
    assert "11 routes, 10 of them called by a test" in review


def test_the_reviewer_reads_each_session_for_itself():
    shop = project_files("an online shop", [])["docs/review.md"].content
    chat = project_files("build a chat app", [])["docs/review.md"].content
    assert "/api/products" in shop and "/api/channels" in chat
    assert shop.split("\n", 1)[1] != chat.split("\n", 1)[1]
    assert "No findings" in shop and "10 routes, 10 of them called by a test" in shop


def test_without_files_the_reviewer_says_it_had_none():
    review = offline_files("reviewer", intent="an online shop", requirements=[])[0].content
    assert "had no files to read" in review and "| major |" not in review
    assert "`PUT /api/orders/<id>`" in review
