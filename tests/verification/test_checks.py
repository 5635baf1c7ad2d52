"""Checks chosen by file type, each in its own sandbox, and the report they make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents_app.verification import checks
from agents_app.verification.checks import checks_for, run_checks
from agents_app.verification.sandbox import Limits

pytestmark = pytest.mark.usefixtures("sandbox")

GOOD = {
    "app/__init__.py": "",
    "app/api.py": (
        "def add(a: int, b: int) -> int:\n"
        "    return a + b\n"
        "\n"
        "\n"
        "def greet(name: str) -> str:\n"
        '    return f"hello {name}"\n'
    ),
    "tests/test_api.py": (
        "from app.api import add, greet\n"
        "\n"
        "\n"
        "def test_add():\n"
        "    assert add(1, 2) == 3\n"
        "\n"
        "\n"
        "def test_greet():\n"
        '    assert greet("x") == "hello x"\n'
    ),
    "db/schema.sql": (
        "-- the schema\n"
        'CREATE TABLE "item" (\n'
        "  id INTEGER PRIMARY KEY,\n"
        "  name TEXT NOT NULL\n"
        ");\n"
        "INSERT INTO \"item\" (name) VALUES ('a');\n"
    ),
    "web/app.js": "export function total(items) {\n  return items.reduce((a, b) => a + b, 0);\n}\n",
    "web/app.test.js": (
        'const test = require("node:test");\n'
        'const assert = require("node:assert");\n'
        'test("adds", () => assert.equal(1 + 1, 2));\n'
    ),
    "README.md": "# A project\n",
}


def by_tool(report: dict) -> dict[str, dict]:
    return {check["tool"]: check for check in report["checks"]}


def test_a_small_good_project_passes_every_check() -> None:
    report = run_checks(GOOD)
    json.dumps(report)  # JSON-serialisable
    results = by_tool(report)
    assert list(results) == ["compile", "ruff", "pytest", "sql", "node-check", "node-test"]
    assert {tool: r["status"] for tool, r in results.items()} == dict.fromkeys(results, "passed")
    assert report["status"] == "passed"
    assert results["pytest"]["counts"] == {"tests": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    assert results["sql"]["counts"] == {"files": 1, "statements": 2, "errors": 0}
    assert results["node-test"]["counts"]["passed"] == 1
    assert report["summary"] == "compile ✓ · lint ✓ · tests 2/2 ✓ · sql ✓ · js ✓ · js tests 1/1 ✓"
    assert report["sandbox"] == {
        "kind": "bubblewrap",
        "version": report["sandbox"]["version"],
        "network": "none",
        "uid": 65534,
    }
    assert report["sandbox"]["version"]
    assert report["limits"]["memory_mb"] == 1024 and report["limits"]["timeout_seconds"] == 60
    for result in report["checks"]:
        assert result["exit_code"] == 0 and result["duration_ms"] > 0 and result["findings"] == []


def test_a_syntax_error_is_a_compile_finding_with_path_and_line() -> None:
    files = {**GOOD, "app/api.py": GOOD["app/api.py"] + "\n\ndef broken(:\n    return 1\n"}
    report = run_checks(files)
    compile_ = by_tool(report)["compile"]
    assert compile_["status"] == "failed"
    assert compile_["findings"] == [
        {"path": "app/api.py", "line": 9, "code": "SyntaxError", "message": compile_["findings"][0]["message"]}
    ]
    assert by_tool(report)["ruff"]["status"] == "failed"  # ruff sees it as well
    assert report["status"] == "failed"
    assert report["summary"].startswith("compile 1 ✗")


def test_a_failing_test_fails_pytest_with_counts_and_the_test_named() -> None:
    files = {**GOOD, "app/api.py": GOOD["app/api.py"].replace("return a + b", "return a - b")}
    report = run_checks(files)
    pytest_ = by_tool(report)["pytest"]
    assert pytest_["status"] == "failed"
    assert pytest_["counts"] == {"tests": 2, "passed": 1, "failed": 1, "errors": 0, "skipped": 0}
    [finding] = pytest_["findings"]
    assert finding["test"] == "tests/test_api.py::test_add"
    assert (finding["path"], finding["line"], finding["code"]) == ("tests/test_api.py", 5, "failed")
    assert "assert -1 == 3" in finding["message"]
    assert "tests 1/2 ✗" in report["summary"]
    assert report["status"] == "failed"


def test_tests_that_cannot_import_the_app_are_errors() -> None:
    files = {p: c for p, c in GOOD.items() if p != "app/api.py"}
    pytest_ = by_tool(run_checks(files))["pytest"]
    assert pytest_["status"] == "failed"
    assert pytest_["counts"]["errors"] == 1
    assert pytest_["findings"][0]["path"] == "tests/test_api.py"
    assert "app.api" in pytest_["findings"][0]["message"] or "app.api" in pytest_["output_tail"]


def test_bad_sql_is_a_finding_with_file_and_line() -> None:
    files = {**GOOD, "db/shop.sql": 'CREATE TABLE "customer" (id INTEGER);\n\nCREATE TABLE order (id INTEGER);\n'}
    sql = by_tool(run_checks(files))["sql"]
    assert sql["status"] == "failed"
    assert sql["findings"] == [
        {"path": "db/shop.sql", "line": 3, "code": "OperationalError", "message": 'near "order": syntax error'}
    ]
    assert sql["counts"] == {"files": 2, "statements": 3, "errors": 1}


def test_lint_findings_carry_their_code_and_only_pyflakes_and_syntax_fail() -> None:
    style_only = {**GOOD, "app/util.py": "def f(x):\n    return x  # " + "y" * 130 + "\n"}
    ruff = by_tool(run_checks(style_only))["ruff"]
    assert ruff["status"] == "passed"
    assert [(f["path"], f["line"], f["code"], f["severity"]) for f in ruff["findings"]] == [
        ("app/util.py", 2, "E501", "warning")
    ]
    unused = {**GOOD, "app/util.py": "import os\n\n\ndef f(x):\n    return undefined_name + x\n"}
    report = run_checks(unused)
    ruff = by_tool(report)["ruff"]
    assert ruff["status"] == "failed"
    assert {(f["path"], f["line"], f["code"], f["severity"]) for f in ruff["findings"]} == {
        ("app/util.py", 1, "F401", "error"),
        ("app/util.py", 5, "F821", "error"),
    }
    assert ruff["counts"] == {"findings": 2, "errors": 2, "warnings": 0}
    assert "lint 2 ✗" in report["summary"]


def test_a_project_lint_config_cannot_switch_the_rules_off() -> None:
    files = {
        **GOOD,
        "pyproject.toml": '[tool.ruff.lint]\nignore = ["F"]\n',
        "app/util.py": "import os\n",
    }
    ruff = by_tool(run_checks(files))["ruff"]
    assert ruff["status"] == "failed" and ruff["findings"][0]["code"] == "F401"


def test_javascript_syntax_errors_are_found_in_scripts_and_modules() -> None:
    files = {
        **GOOD,
        "web/app.js": "export function total(items) {\n  return items.reduce((a, b) => a + b, 0);\n}\nconst = 2;\n",
        "web/legacy.js": "function ok() { return 1; }\nvar x = ;\n",
    }
    node = by_tool(run_checks(files))["node-check"]
    assert node["status"] == "failed"
    assert [(f["path"], f["line"], f["code"]) for f in node["findings"]] == [
        ("web/app.js", 4, "SyntaxError"),
        ("web/legacy.js", 2, "SyntaxError"),
    ]
    assert node["counts"] == {"files": 3, "errors": 2}


def test_a_failing_node_test_is_named() -> None:
    files = {**GOOD, "web/app.test.js": GOOD["web/app.test.js"].replace("1 + 1, 2", "1 + 1, 3")}
    result = by_tool(run_checks(files))["node-test"]
    assert result["status"] == "failed"
    assert result["counts"]["failed"] == 1 and result["counts"]["tests"] == 1
    assert [(f["path"], f["line"], f["test"]) for f in result["findings"]] == [("web/app.test.js", 3, "adds")]


def test_without_node_the_javascript_checks_are_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "node_path", lambda: None)
    report = run_checks(GOOD)
    results = by_tool(report)
    assert results["node-check"]["status"] == results["node-test"]["status"] == "skipped"
    assert results["node-check"]["reason"] == "node is not installed here"
    assert report["status"] == "passed"
    assert report["summary"].endswith("js skipped · js tests skipped")


def test_tests_over_the_wall_clock_are_a_timeout() -> None:
    files = {
        "tests/test_slow.py": "import time\n\n\ndef test_slow():\n    time.sleep(30)\n",
    }
    limits = Limits(timeout_seconds=3, memory_mb=1024, cpu_seconds=10, max_processes=64, max_file_mb=8)
    report = run_checks(files, limits=limits)
    pytest_ = by_tool(report)["pytest"]
    assert pytest_["status"] == "timeout"
    assert pytest_["limit"] == "timeout"
    assert report["status"] == "failed"
    assert "tests timeout" in report["summary"]


def test_checks_chosen_by_file_type() -> None:
    assert checks_for(["README.md", "docs/api.md"]) == []
    assert checks_for(["app/api.py"]) == ["compile", "ruff"]
    assert checks_for(["app/api.py", "tests/test_api.py"]) == ["compile", "ruff", "pytest"]
    assert checks_for(["test_x.py"]) == ["compile", "ruff", "pytest"]
    assert checks_for(["db/schema.sql"]) == ["sql"]
    assert checks_for(["web/app.js"]) == ["node-check"]
    assert checks_for(["web/app.js", "test/app.js"]) == ["node-check", "node-test"]
    assert checks_for(["../evil.py", "/etc/x.sql"]) == []


def test_nothing_to_check_passes_with_no_checks() -> None:
    report = run_checks({"README.md": "# hi\n", "docs/api.md": "text\n"})
    assert report["status"] == "passed"
    assert report["checks"] == []
    assert report["summary"].startswith("nothing to check")


def test_unsafe_paths_are_ignored_never_written() -> None:
    report = run_checks({"../escape.py": "x = 1\n", "/abs.py": "x = 1\n", "ok.py": "x = 1\n"})
    assert report["ignored"] == ["../escape.py", "/abs.py"]
    assert by_tool(report)["compile"]["counts"] == {"files": 1, "errors": 0}


@pytest.mark.parametrize("bwrap", ["/nonexistent/bwrap", "/bin/false"])
def test_not_verified_when_no_sandbox_can_be_made(settings, tmp_path: Path, bwrap: str) -> None:
    settings.HARNESS_BWRAP = bwrap
    marker = tmp_path / "ran-unsandboxed"
    files = {
        **GOOD,
        "conftest.py": f"open({str(marker)!r}, 'w').write('x')\n",
        "tests/test_api.py": GOOD["tests/test_api.py"] + f"\nopen({str(marker)!r}, 'w').write('x')\n",
    }
    report = run_checks(files)
    assert report["status"] == "not_verified"
    assert report["checks"] == []
    assert report["reason"].startswith(("bubblewrap is not installed", "user namespaces are not available"))
    assert report["summary"] == f"not verified: {report['reason']}"
    assert report["sandbox"]["available"] is False
    json.dumps(report)
    assert not marker.exists()


def test_not_verified_without_the_toolchain(settings, tmp_path: Path) -> None:
    settings.HARNESS_CHECKS_TOOLCHAIN = str(tmp_path / "missing")
    report = run_checks(GOOD)
    assert report["status"] == "not_verified"
    assert "make toolchain" in report["reason"]


def test_describes_what_it_will_do_for_the_started_event() -> None:
    assert checks.checks_for(list(GOOD)) == ["compile", "ruff", "pytest", "sql", "node-check", "node-test"]
    assert checks.sandbox_description()["kind"] == "bubblewrap"
    assert set(checks.limits_description()) == {
        "timeout_seconds",
        "memory_mb",
        "cpu_seconds",
        "max_processes",
        "max_file_mb",
        "tmp_mb",
    }


def test_results_arrive_as_each_check_finishes() -> None:
    seen = []
    report = run_checks(GOOD, on_check=lambda result: seen.append(result["tool"]))
    assert seen == [c["tool"] for c in report["checks"]] == checks_for(list(GOOD))
