"""Checks of a session's files, chosen by file type, each in its own fresh sandbox.

    report = run_checks({"app/api.py": "...", "tests/test_api.py": "...", "db/schema.sql": "..."})

| tool         | when                                  | what                                                   |
|--------------|---------------------------------------|--------------------------------------------------------|
| `compile`    | any `.py`                             | `compile()` of every file; SyntaxErrors with path/line  |
| `ruff`       | any `.py`                             | `ruff check --isolated --select E,F,B`, line length 120 |
| `pytest`     | `tests/**.py`, `test_*.py`, `*_test.py` | `python -m pytest -q`, counts and failures from JUnit  |
| `sql`        | any `.sql`                            | each statement loaded into one in-memory SQLite         |
| `node-check` | any `.js`/`.mjs`/`.cjs`               | `node --check` (ES modules parsed as modules)           |
| `node-test`  | `*.test.js`, `test/**.js`, …          | `node --test`, counts and failures from TAP             |

A check's status is `passed`, `failed`, `error` (the tool itself broke), `timeout` (wall clock or CPU
limit) or `skipped` (Node is not installed: not a failure). Ruff's findings of pyflakes (`F…`) and
syntax errors (`E9…`, `invalid-syntax`) fail the check; the others (pycodestyle `E`, bugbear `B`) are
reported with severity `warning` and pass. The report's status is `passed` when no check failed,
`failed` when one failed, broke or timed out, and `not_verified` (with the reason) when no sandbox can
be made here or the toolchain is missing — never anything run unsandboxed.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET  # noqa: S405 - bounded input, no external entities in ElementTree
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from agents_app.verification.sandbox import (
    WORKSPACE,
    Limits,
    Outcome,
    SandboxUnavailable,
    run_sandboxed,
    sandbox_description,
    sandbox_status,
    toolchain_dir,
)

REPORT_VERSION = 1
OUT = ".harness-check"  # where the checks' helpers write their results inside the workspace copy
MAX_FINDINGS = 200
MAX_MESSAGE = 500
RUFF_SELECT = "E,F,B"
RUFF_LINE_LENGTH = 120
RUFF_FAILING = ("F", "E9")
RULE_CODE = re.compile(r"^[A-Z]+[0-9]+$")  # anything else ruff reports ("invalid-syntax") is a syntax error
PY_SUFFIXES = (".py",)
JS_SUFFIXES = (".js", ".mjs", ".cjs")
LABELS = {
    "compile": "compile",
    "ruff": "lint",
    "pytest": "tests",
    "sql": "sql",
    "node-check": "js",
    "node-test": "js tests",
}
ORDER = list(LABELS)

# --- which checks ---------------------------------------------------------------------------------


def _is_python_test(path: str) -> bool:
    pure = PurePosixPath(path)
    if pure.suffix != ".py":
        return False
    name = pure.name
    if name.startswith("test_") or name.endswith("_test.py"):
        return True
    return name != "__init__.py" and name != "conftest.py" and "tests" in pure.parts[:-1]


def _is_js_test(path: str) -> bool:
    pure = PurePosixPath(path)
    if pure.suffix not in JS_SUFFIXES or "node_modules" in pure.parts:
        return False
    stem = pure.name.rsplit(".", 1)[0]
    return (
        stem.endswith((".test", "-test", "_test"))
        or stem.startswith("test-")
        or stem == "test"
        or "test" in pure.parts[:-1]
    )


def checks_for(paths: list[str]) -> list[str]:
    """The checks that apply to these files, in the order they run."""
    paths = [p for p in paths if _safe_path(p)]
    chosen: set[str] = set()
    if any(p.endswith(PY_SUFFIXES) for p in paths):
        chosen |= {"compile", "ruff"}
    if any(_is_python_test(p) for p in paths):
        chosen.add("pytest")
    if any(p.endswith(".sql") for p in paths):
        chosen.add("sql")
    if any(p.endswith(JS_SUFFIXES) and "node_modules" not in p.split("/") for p in paths):
        chosen.add("node-check")
    if any(_is_js_test(p) for p in paths):
        chosen.add("node-test")
    return [name for name in ORDER if name in chosen]


def limits_description(limits: Limits | None = None) -> dict:
    return (limits or Limits.from_settings()).as_dict()


def toolchain_status() -> tuple[bool, str]:
    """Is the checks toolchain (`make toolchain`) there? It is never installed at check time."""
    toolchain = toolchain_dir()
    if not (toolchain / "bin" / "python").exists() or not (toolchain / "bin" / "ruff").exists():
        return False, f"the checks toolchain is missing at {toolchain}: run `make toolchain`"
    return True, ""


def node_path() -> str | None:
    return shutil.which("node")


# --- the files ----------------------------------------------------------------------------------


def _safe_path(path: str) -> bool:
    if not path or "\x00" in path or "\\" in path or path.startswith("/") or len(path) > 512:
        return False
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return False
    return parts[0] != OUT


def _materialise(files: dict[str, str], root: Path) -> None:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    (root / OUT).mkdir(exist_ok=True)


# --- helpers run inside the sandbox (by the toolchain's Python) -------------------------------------

COMPILE_HELPER = r"""
import json, sys
out, paths = sys.argv[1], sys.argv[2:]
findings = []
for path in paths:
    try:
        with open(path, "rb") as handle:
            compile(handle.read(), path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        findings.append({"path": path, "line": exc.lineno, "code": type(exc).__name__, "message": exc.msg})
    except (ValueError, UnicodeDecodeError, RecursionError, MemoryError) as exc:
        findings.append({"path": path, "line": None, "code": type(exc).__name__, "message": str(exc)})
with open(out, "w") as handle:
    json.dump({"files": len(paths), "findings": findings}, handle)
"""

SQL_HELPER = r"""
import json, sqlite3, sys
out, paths = sys.argv[1], sys.argv[2:]
connection = sqlite3.connect(":memory:")
findings, statements = [], 0

def first_line(chunk, offset):
    for number, line in enumerate(chunk.splitlines(), offset):
        text = line.strip()
        if text and not text.startswith("--"):
            return number
    return offset

def run(path, chunk, offset):
    global statements
    try:
        connection.executescript(chunk)
        statements += 1
    except (sqlite3.Error, ValueError) as exc:
        findings.append({"path": path, "line": first_line(chunk, offset), "code": type(exc).__name__,
                         "message": str(exc)})

for path in paths:
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines(keepends=True)
    chunk, offset = "", 1
    for number, line in enumerate(lines, 1):
        if not chunk:
            offset = number
        chunk += line
        if sqlite3.complete_statement(chunk):
            run(path, chunk, offset)
            chunk = ""
    if chunk.strip() and any(l.strip() and not l.strip().startswith("--") for l in chunk.splitlines()):
        if sqlite3.complete_statement(chunk + ";"):
            run(path, chunk + ";", offset)
        else:
            findings.append({"path": path, "line": first_line(chunk, offset), "code": "incomplete",
                             "message": "the last statement is incomplete"})
with open(out, "w") as handle:
    json.dump({"files": len(paths), "statements": statements, "findings": findings}, handle)
"""

NODE_CHECK_HELPER = r"""
import json, re, subprocess, sys
out, node, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
esm = re.compile(r"^\s*(import\s*[\w{*'\"]|export\s)", re.M)
findings = []

def finding(path, stderr):
    lines = stderr.splitlines()
    line = None
    if lines:
        match = re.match(r"^(?:.*?|\[stdin\]):(\d+)\s*$", lines[0])
        line = int(match.group(1)) if match else None
    message = next((l.strip() for l in lines if re.match(r"^\w*(Error|Exception)\b", l.strip())), "")
    return {"path": path, "line": line, "code": message.split(":", 1)[0] or "node", "message": message or stderr[-500:]}

for path in paths:
    result = subprocess.run([node, "--check", path], capture_output=True, text=True)
    if result.returncode == 0 and path.endswith(".js"):
        with open(path, encoding="utf-8", errors="replace") as handle:
            source = handle.read()
        if esm.search(source):  # node --check passes ES modules unparsed: parse it as one
            result = subprocess.run([node, "--input-type=module", "--check"], input=source,
                                    capture_output=True, text=True)
    if result.returncode != 0:
        findings.append(finding(path, result.stderr))
with open(out, "w") as handle:
    json.dump({"files": len(paths), "findings": findings}, handle)
"""


# --- one check --------------------------------------------------------------------------------------


def _result(tool: str, outcome: Outcome | None = None, **fields) -> dict:
    result = {
        "tool": tool,
        "label": LABELS[tool],
        "status": "passed",
        "counts": {},
        "exit_code": outcome.exit_code if outcome else None,
        "duration_ms": outcome.duration_ms if outcome else 0,
        "output_tail": _output_tail(outcome) if outcome else "",
        "findings": [],
    }
    if outcome is not None and outcome.limit:
        result["limit"] = outcome.limit
    result.update(fields)
    result["findings"] = [_clean(f) for f in result["findings"][:MAX_FINDINGS]]
    return result


def _output_tail(outcome: Outcome) -> str:
    text = "\n".join(part for part in (outcome.stdout_tail.rstrip(), outcome.stderr_tail.rstrip()) if part)
    return text[-4096:]


def _clean(finding: dict) -> dict:
    path = str(finding.get("path") or "")
    path = path.removeprefix(WORKSPACE + "/").removeprefix("./")
    line = finding.get("line")
    cleaned = {
        "path": path,
        "line": int(line) if isinstance(line, int) or (isinstance(line, str) and line.isdigit()) else None,
        "code": str(finding.get("code") or "") or None,
        "message": str(finding.get("message") or "")[:MAX_MESSAGE],
    }
    for key in ("severity", "test"):
        if finding.get(key):
            cleaned[key] = finding[key]
    return cleaned


def _limit_status(outcome: Outcome) -> str | None:
    if outcome.timed_out or outcome.limit == "cpu":
        return "timeout"
    return None


def _limit_finding(outcome: Outcome, tool: str) -> dict:
    what = {"memory": "the memory limit", "file_size": "the file size limit", "processes": "the process limit"}
    return {"path": "", "line": None, "code": outcome.limit, "message": f"{tool} stopped at {what[outcome.limit]}"}


def _helper_result(tool: str, outcome: Outcome, name: str, counts: Callable[[dict], dict]) -> dict:
    status = _limit_status(outcome)
    if status:
        return _result(tool, outcome, status=status)
    raw = outcome.collected.get(f"{OUT}/{name}")
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        data = None
    if outcome.exit_code != 0 or not isinstance(data, dict):
        findings = [_limit_finding(outcome, tool)] if outcome.limit in ("memory", "file_size", "processes") else []
        return _result(tool, outcome, status="error", findings=findings)
    findings = data.get("findings") or []
    return _result(tool, outcome, status="failed" if findings else "passed", counts=counts(data), findings=findings)


def _python() -> str:
    return str(toolchain_dir() / "bin" / "python")


def check_compile(root: Path, paths: list[str], limits: Limits) -> dict:
    sources = sorted(p for p in paths if p.endswith(PY_SUFFIXES))
    argv = [_python(), "-I", "-B", "-c", COMPILE_HELPER, f"{OUT}/compile.json", *sources]
    outcome = run_sandboxed(root, argv, limits=limits, collect=(f"{OUT}/compile.json",))
    return _helper_result(
        "compile",
        outcome,
        "compile.json",
        lambda data: {"files": data.get("files", 0), "errors": len(data.get("findings") or [])},
    )


def check_ruff(root: Path, paths: list[str], limits: Limits) -> dict:
    output = f"{OUT}/ruff.json"
    argv = [
        str(toolchain_dir() / "bin" / "ruff"),
        "check",
        "--isolated",
        "--no-cache",
        "--exit-zero",
        "--select",
        RUFF_SELECT,
        "--line-length",
        str(RUFF_LINE_LENGTH),
        "--target-version",
        "py311",
        "--output-format",
        "json",
        "--output-file",
        output,
        ".",
    ]
    outcome = run_sandboxed(root, argv, limits=limits, collect=(output,))
    status = _limit_status(outcome)
    if status:
        return _result("ruff", outcome, status=status)
    try:
        rows = json.loads(outcome.collected[output]) if output in outcome.collected else None
    except ValueError:
        rows = None
    if outcome.exit_code != 0 or not isinstance(rows, list):
        return _result("ruff", outcome, status="error")
    findings = []
    for row in rows:
        code = row.get("code")
        failing = code is None or not RULE_CODE.match(str(code)) or str(code).startswith(RUFF_FAILING)
        findings.append(
            {
                "path": row.get("filename", ""),
                "line": (row.get("location") or {}).get("row"),
                "code": code or "syntax",
                "message": row.get("message", ""),
                "severity": "error" if failing else "warning",
            }
        )
    findings.sort(key=lambda f: (f["severity"] != "error", f["path"], f["line"] or 0))
    errors = sum(1 for f in findings if f["severity"] == "error")
    counts = {"findings": len(findings), "errors": errors, "warnings": len(findings) - errors}
    return _result("ruff", outcome, status="failed" if errors else "passed", counts=counts, findings=findings)


def _junit_counts_and_failures(data: bytes, paths: list[str]) -> tuple[dict, list[dict]]:
    root = ET.fromstring(data)  # noqa: S314 - the sandbox's own report, size-capped
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        counts["tests"] += int(suite.get("tests", 0))
        counts["failed"] += int(suite.get("failures", 0))
        counts["errors"] += int(suite.get("errors", 0))
        counts["skipped"] += int(suite.get("skipped", 0))
    counts["passed"] = max(0, counts["tests"] - counts["failed"] - counts["errors"] - counts["skipped"])
    findings = []
    for case in root.iter("testcase"):
        problem = case.find("failure")
        kind = "failed"
        if problem is None:
            problem, kind = case.find("error"), "error"
        if problem is None:
            continue
        path = case.get("file") or _path_of_classname(case.get("classname") or case.get("name") or "", paths)
        text = problem.text or ""
        line = _line_in_traceback(text, path)
        if line is None and case.get("line", "").isdigit():
            line = int(case.get("line")) + 1
        classname = case.get("classname") or ""
        module = path[:-3].replace("/", ".") if path.endswith(".py") else ""
        inner = classname[len(module) + 1 :] if module and classname.startswith(module + ".") else ""
        test_id = "::".join(p for p in (path, inner, case.get("name")) if p) if classname else case.get("name", "")
        message = problem.get("message") or text.strip().splitlines()[-1:] or [""]
        findings.append(
            {
                "path": path,
                "line": line,
                "code": kind,
                "test": test_id,
                "message": message if isinstance(message, str) else message[0],
            }
        )
    return counts, findings


def _path_of_classname(dotted: str, paths: list[str]) -> str:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end]) + ".py"
        if candidate in paths:
            return candidate
    return dotted


def _line_in_traceback(text: str, path: str) -> int | None:
    if not path:
        return None
    matches = re.findall(rf"^(?:{re.escape(WORKSPACE)}/)?{re.escape(path)}:(\d+):", text, re.M)
    return int(matches[-1]) if matches else None


def check_pytest(root: Path, paths: list[str], limits: Limits) -> dict:
    junit = f"{OUT}/junit.xml"
    argv = [
        _python(),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        WORKSPACE,
        f"--junitxml={WORKSPACE}/{junit}",
        "-o",
        "junit_family=xunit1",
        "-o",
        "junit_logging=no",
    ]
    outcome = run_sandboxed(root, argv, limits=limits, env={"PYTHONPATH": WORKSPACE}, collect=(junit,))
    status = _limit_status(outcome)
    counts: dict = {}
    findings: list[dict] = []
    raw = outcome.collected.get(junit)
    if raw:
        try:
            counts, findings = _junit_counts_and_failures(raw, paths)
        except (ET.ParseError, ValueError):
            counts, findings = {}, []
    if status:
        return _result("pytest", outcome, status=status, counts=counts, findings=findings)
    code = outcome.exit_code
    if code == 0:
        status = "passed"
    elif code in (1, 2):
        status = "failed"
    elif code == 5:
        status = "failed"
        findings.append({"path": "", "line": None, "code": "no-tests", "message": "pytest collected no tests"})
    else:
        status = "error"
    if outcome.limit in ("memory", "file_size", "processes"):
        status = "failed"
        findings.append(_limit_finding(outcome, "pytest"))
    if status == "failed" and not findings:
        findings.append({"path": "", "line": None, "code": f"exit {code}", "message": _output_tail(outcome)[-500:]})
    return _result("pytest", outcome, status=status, counts=counts, findings=findings)


def check_sql(root: Path, paths: list[str], limits: Limits) -> dict:
    def order(path: str) -> tuple:  # schema before data: one database holds every file, in this order
        name = path.lower()
        first = any(word in name for word in ("schema", "init", "create", "migration", "ddl"))
        return (0 if first else 1, path)

    sources = sorted((p for p in paths if p.endswith(".sql")), key=order)
    argv = [_python(), "-I", "-B", "-c", SQL_HELPER, f"{OUT}/sql.json", *sources]
    outcome = run_sandboxed(root, argv, limits=limits, collect=(f"{OUT}/sql.json",))
    return _helper_result(
        "sql",
        outcome,
        "sql.json",
        lambda data: {
            "files": data.get("files", 0),
            "statements": data.get("statements", 0),
            "errors": len(data.get("findings") or []),
        },
    )


def check_node(root: Path, paths: list[str], limits: Limits) -> dict:
    node = node_path()
    if node is None:
        return _result("node-check", status="skipped", reason="node is not installed here")
    sources = sorted(p for p in paths if p.endswith(JS_SUFFIXES) and "node_modules" not in p.split("/"))
    argv = [_python(), "-I", "-B", "-c", NODE_CHECK_HELPER, f"{OUT}/node.json", node, *sources]
    outcome = run_sandboxed(root, argv, limits=limits, collect=(f"{OUT}/node.json",))
    return _helper_result(
        "node-check",
        outcome,
        "node.json",
        lambda data: {"files": data.get("files", 0), "errors": len(data.get("findings") or [])},
    )


def _tap_counts_and_failures(tap: str) -> tuple[dict, list[dict]]:
    counts = {}
    for key, name in (("tests", "tests"), ("pass", "passed"), ("fail", "failed"), ("skipped", "skipped")):
        found = re.findall(rf"^# {key} (\d+)$", tap, re.M)
        counts[name] = int(found[-1]) if found else 0
    cancelled = re.findall(r"^# cancelled (\d+)$", tap, re.M)
    counts["errors"] = int(cancelled[-1]) if cancelled else 0
    findings = []
    for match in re.finditer(r"^(\s*)not ok \d+ - (.*)$\n((?:\1  .*\n?)*)", tap, re.M):
        name, block = match.group(2), match.group(3)
        if "failureType: 'subtestsFailed'" in block:
            continue  # a suite failing because of its tests: the tests are listed themselves
        location = re.search(r"location: '(?:" + re.escape(WORKSPACE) + r"/)?([^':]+):(\d+):\d+'", block)
        error = re.search(r"^\s*error: (?:'(.*)'|\|-\n\s*(.*)|(.*))$", block, re.M)
        message = next((g for g in (error.groups() if error else ()) if g), "failed")
        findings.append(
            {
                "path": location.group(1) if location else "",
                "line": int(location.group(2)) if location else None,
                "code": "failed",
                "test": name.strip(),
                "message": message.replace("\\'", "'"),
            }
        )
    return counts, findings


def check_node_test(root: Path, paths: list[str], limits: Limits) -> dict:
    node = node_path()
    if node is None:
        return _result("node-test", status="skipped", reason="node is not installed here")
    tap = f"{OUT}/node-test.tap"
    argv = [node, "--test", "--test-reporter=tap", f"--test-reporter-destination={WORKSPACE}/{tap}"]
    outcome = run_sandboxed(root, argv, limits=limits, collect=(tap,))
    raw = outcome.collected.get(tap)
    counts, findings = _tap_counts_and_failures(raw.decode("utf-8", "replace")) if raw else ({}, [])
    status = _limit_status(outcome)
    if status is None:
        if outcome.exit_code == 0 and raw:
            status = "passed"
        elif raw and (counts.get("failed") or counts.get("errors")):
            status = "failed"
        elif outcome.limit in ("memory", "file_size", "processes"):
            status = "failed"
            findings.append(_limit_finding(outcome, "node --test"))
        else:
            status = "error" if not raw else "failed"
    if status == "failed" and not findings:
        findings.append(
            {"path": "", "line": None, "code": f"exit {outcome.exit_code}", "message": "node --test failed"}
        )
    return _result("node-test", outcome, status=status, counts=counts, findings=findings)


CHECKS: dict[str, Callable[[Path, list[str], Limits], dict]] = {
    "compile": check_compile,
    "ruff": check_ruff,
    "pytest": check_pytest,
    "sql": check_sql,
    "node-check": check_node,
    "node-test": check_node_test,
}


# --- the report -------------------------------------------------------------------------------------


def _badge(result: dict) -> str:
    label, status, counts = result["label"], result["status"], result.get("counts") or {}
    if status == "skipped":
        return f"{label} skipped"
    if status == "timeout":
        return f"{label} timeout"
    if status == "error":
        return f"{label} error"
    if result["tool"] in ("pytest", "node-test") and counts.get("tests") is not None and counts:
        mark = "✓" if status == "passed" else "✗"
        return f"{label} {counts.get('passed', 0)}/{counts.get('tests', 0)} {mark}"
    if status == "passed":
        return f"{label} ✓"
    errors = counts.get("errors") or len(result.get("findings") or [])
    return f"{label} {errors} ✗"


def summarise(checks: list[dict]) -> str:
    return " · ".join(_badge(result) for result in checks)


def _overall(checks: list[dict]) -> str:
    return "failed" if any(c["status"] in ("failed", "error", "timeout") for c in checks) else "passed"


def run_checks(
    files: dict[str, str],
    *,
    limits: Limits | None = None,
    on_check: Callable[[dict], None] | None = None,
) -> dict:
    """Check these files (path → text) in the sandbox; the JSON-serialisable report.

    `on_check(result)` is called as each check finishes (for live `verification.check` events)."""
    started = time.monotonic()
    limits = limits or Limits.from_settings()
    ignored = sorted(p for p in files if not _safe_path(p))
    files = {p: c for p, c in files.items() if _safe_path(p)}
    plan = checks_for(list(files))
    report: dict = {
        "version": REPORT_VERSION,
        "status": "passed",
        "sandbox": sandbox_description(),
        "limits": limits.as_dict(),
        "checks": [],
        "summary": "",
        "duration_ms": 0,
    }
    if ignored:
        report["ignored"] = ignored

    def not_verified(reason: str) -> dict:
        report.update(status="not_verified", reason=reason, summary=f"not verified: {reason}")
        report["duration_ms"] = int((time.monotonic() - started) * 1000)
        return report

    if not plan:
        report["summary"] = "nothing to check (no Python, SQL or JavaScript files)"
        return report
    ok, reason = sandbox_status()
    if not ok:
        return not_verified(reason)
    ok, reason = toolchain_status()
    if not ok:
        return not_verified(reason)
    source = Path(tempfile.mkdtemp(prefix="harness-checks-"))
    try:
        _materialise(files, source)
        for name in plan:
            try:
                result = CHECKS[name](source, sorted(files), limits)  # each: a fresh sandbox over a fresh copy
            except SandboxUnavailable as exc:
                return not_verified(str(exc))
            report["checks"].append(result)
            if on_check is not None:
                on_check(result)
    finally:
        shutil.rmtree(source, ignore_errors=True)
    report["status"] = _overall(report["checks"])
    report["summary"] = summarise(report["checks"])
    report["duration_ms"] = int((time.monotonic() - started) * 1000)
    return report
