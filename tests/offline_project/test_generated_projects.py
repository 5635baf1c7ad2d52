"""The offline provider builds one coherent, working project per session (issue 13, item 5)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agents_app.offline_project import spec_for
from tests.offline_project.support import CASES, CRUD_CASES, project_files, routes_of, run_pytest, write

_built: dict[str, tuple[dict, dict, Path]] = {}


@pytest.fixture
def project(request, tmp_path_factory):  # noqa: ANN001, ANN201
    """(spec, files, root) of the case's project, written once per case."""
    case = request.param
    if case not in _built:
        intent, requirements, task_type = CASES[case]
        files = project_files(intent, requirements, task_type)
        root = write(tmp_path_factory.mktemp(case), files)
        _built[case] = (spec_for(intent, requirements, task_type), files, root)
    return _built[case]


ALL = pytest.mark.parametrize("project", list(CASES), indirect=True)
CRUD = pytest.mark.parametrize("project", CRUD_CASES, indirect=True)


@ALL
def test_every_python_file_parses_and_every_file_says_who_wrote_it(project):
    _, files, _ = project
    assert {"app/api.py", "tests/test_api.py", "db/schema.sql", "web/index.html", "docs/review.md"} <= set(files)
    for path, file in files.items():
        if path.endswith(".py"):
            ast.parse(file.content, filename=path)
        lines = file.content.splitlines()
        first = lines[1] if lines[0].startswith("#!") else lines[0]
        assert "(offline provider)" in first, path
        assert file.kind in ("code", "docs", "tests")


@ALL
def test_the_schema_loads_in_sqlite_with_quoted_names_and_foreign_keys(project):
    spec, files, _ = project
    db = sqlite3.connect(":memory:")
    db.executescript(files["db/schema.sql"].content)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {e["table"] for e in spec["entities"]} <= tables
    for e in spec["entities"]:
        assert f'CREATE TABLE IF NOT EXISTS "{e["table"]}"' in files["db/schema.sql"].content
    for relation in spec["relations"]:
        child = next(e for e in spec["entities"] if e["name"] == relation["from"])
        with pytest.raises(sqlite3.IntegrityError):
            columns = [f for f in child["fields"] if f["required"]]
            values = [999 if f["references"] else 1 if f["type"] in ("int", "float", "bool") else "x" for f in columns]
            names = ", ".join(f'"{f["name"]}"' for f in columns)
            db.execute(f'INSERT INTO "{child["table"]}" ({names}) VALUES ({", ".join("?" * len(values))})', values)  # noqa: S608 - names from the spec


@ALL
def test_its_tests_pass_with_plain_pytest(project):
    _, _, root = project
    code, output, passed = run_pytest(root)
    assert code == 0, output
    assert passed >= 6, output


@ALL
def test_its_tests_fail_without_the_api(project, tmp_path):
    _, _, root = project
    copy = shutil.copytree(root, tmp_path / "copy")
    (copy / "app" / "api.py").unlink()
    code, output, passed = run_pytest(copy)
    assert code != 0 and passed == 0, output


BREAKS = {
    "list": (r"(def list_\w+\(store: Store, environ: dict\) -> tuple\[int, object\]:\n)", r"\1    return 200, []\n"),
    "create": (r"(def create_\w+\(store: Store, environ: dict\) -> tuple\[int, object\]:\n)", r"\1    return 201, {}\n"),
    "get": (r"(def get_\w+\(store: Store, environ: dict, item_id: int\) -> tuple\[int, object\]:\n)",
            r"\1    return 200, {'id': item_id}\n"),
    "update": (r"(def update_\w+\(store: Store, environ: dict, item_id: int\) -> tuple\[int, object\]:\n)",
               r"\1    return 200, found(store, ENTITIES[next(iter(ENTITIES))], item_id)\n"),
    "delete": (r"(def delete_\w+\(store: Store, environ: dict, item_id: int\) -> tuple\[int, object\]:\n)",
               r"\1    return 204, None\n"),
    "validation": (r'if field\["required"\]:\n', "if False:\n"),
}  # fmt: skip


@pytest.mark.parametrize("broken", list(BREAKS))
@pytest.mark.parametrize("project", ["todo", "shop", "unknown-noun"], indirect=True)
def test_its_tests_fail_when_a_route_handler_is_broken(project, broken, tmp_path):
    _, _, root = project
    copy = shutil.copytree(root, tmp_path / "copy")
    api = copy / "app" / "api.py"
    pattern, replacement = BREAKS[broken]
    source, count = re.subn(pattern, replacement, api.read_text(), count=1)
    assert count == 1, f"the {broken} handler was not found"
    api.write_text(source)
    code, output, _ = run_pytest(copy)
    assert code != 0, f"breaking {broken} went unnoticed:\n{output}"


@pytest.mark.parametrize(
    "pattern,replacement",
    [('if entry is None or entry["used"] or', "if entry is None or"), ('or accounts.clock() >= entry["expires_at"]', ""),
     ("raise HTTPError(401", "return 200, {}  # raise HTTPError(401")],
)  # fmt: skip
@pytest.mark.parametrize("project", ["password-reset"], indirect=True)
def test_the_reset_flow_tests_fail_when_the_flow_is_broken(project, pattern, replacement, tmp_path):
    _, _, root = project
    copy = shutil.copytree(root, tmp_path / "copy")
    api = copy / "app" / "api.py"
    source = api.read_text()
    assert pattern in source
    api.write_text(source.replace(pattern, replacement, 1))
    code, output, _ = run_pytest(copy)
    assert code != 0, output


class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, bool]] = {}
        self.current: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form":
            self.current = attrs.get("data-entity") or attrs.get("data-path")
            self.forms[self.current] = {}
        elif tag == "input" and self.current:
            required = attrs["data-required"] == "true"
            assert ("required" in attrs) == (required and attrs["type"] != "checkbox"), attrs
            self.forms[self.current][attrs["data-field"]] = required


@CRUD
def test_the_frontend_sends_exactly_the_fields_the_api_requires(project):
    spec, files, _ = project
    parser = Forms()
    parser.feed(files["web/index.html"].content)
    assert parser.forms == {e["name"]: {f["name"]: f["required"] for f in e["fields"]} for e in spec["entities"]}
    js = files["web/app.js"].content
    declared = json.loads(re.search(r"const ENTITIES = (\[.*?\]);\n", js, re.S).group(1))
    api = files["app/api.py"].content
    for entity in declared:
        spec_entity = next(e for e in spec["entities"] if e["name"] == entity["name"])
        assert entity["path"] == f"/api/{spec_entity['route']}"
        assert [(f["name"], f["required"]) for f in entity["fields"]] == [
            (f["name"], f["required"]) for f in spec_entity["fields"]
        ]
        assert f"'{entity['path']}'" in api, "the backend serves the path the frontend calls"
    assert "innerHTML" not in js and "textContent" in js


@pytest.mark.parametrize("project", ["password-reset"], indirect=True)
def test_the_reset_forms_send_the_fields_each_route_requires(project):
    spec, files, _ = project
    parser = Forms()
    parser.feed(files["web/index.html"].content)
    assert parser.forms == {r["path"]: {f["name"]: True for f in r["body"]} for r in spec["routes"]}


@ALL
def test_the_docs_list_every_route_the_code_serves(project):
    spec, files, root = project
    real = routes_of(root)
    assert real == [(r["method"], r["path"]) for r in spec["routes"]]
    reference = next(p for p in files if p.startswith("docs/") and p.endswith("-api.md") or p == "docs/api.md")
    for method, path in real:
        assert f"| {method} | `{path}` |" in files["docs/architecture.md"].content, (method, path)
        assert f"`{method} {path}`" in files["README.md"].content, (method, path)
        assert path in files[reference].content
    documented = set(
        re.findall(r"\| (GET|POST|PUT|DELETE|PATCH) \| `([^`]+)` \|", files["docs/architecture.md"].content)
    )
    assert documented == set(real), "architecture.md promises only routes that exist"
    assert "no code defines" not in files["docs/review.md"].content


@pytest.mark.parametrize("case", list(CASES))
def test_the_sandboxed_checks_pass_and_fail_without_the_api(case):
    """What the verification phase runs: every check passes on the project as built, and its tests fail
    once the backend file is gone."""
    from agents_app.verification.checks import run_checks

    intent, requirements, task_type = CASES[case]
    files = {path: file.content for path, file in project_files(intent, requirements, task_type).items()}

    report = run_checks(files)
    broken = run_checks({path: content for path, content in files.items() if path != "app/api.py"})

    assert report["status"] == "passed", report["summary"]
    tests = next(c for c in report["checks"] if c["tool"] == "pytest")
    assert tests["counts"]["passed"] >= 6 and tests["counts"]["failed"] == 0
    assert {c["tool"] for c in report["checks"]} >= {"compile", "ruff", "pytest", "sql"}
    assert broken["status"] == "failed"
    assert next(c for c in broken["checks"] if c["tool"] == "pytest")["status"] == "failed"
