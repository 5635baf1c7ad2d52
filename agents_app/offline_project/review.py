"""The reviewer's review: reads the session's real files and names findings with path and line.

Checks, all static: Python that does not parse; routes (WSGI route tables, `@app.get(...)`-style
decorators) and whether a test calls each; docs that promise routes no code defines; TODO/FIXME;
functions longer than 40 lines; bare or silent `except`; `json.loads` outside a `try`; `innerHTML` in
JavaScript; `fetch` without a check of the response; unquoted reserved words in SQL; secrets in code.
Without files it says so plainly, and lists what it would check for this session's spec.
"""

from __future__ import annotations

import ast
import re

from agents_app.offline_project.text import one_line, parse_python, prose

LONG_FUNCTION = 40
METHODS = "GET|POST|PUT|PATCH|DELETE"
ROUTE_TUPLE = re.compile(r"""\(\s*["'](""" + METHODS + r""")["']\s*,\s*["'](/[^"']*)["']""")
ROUTE_DECORATOR = re.compile(r"""@\w+\.(get|post|put|patch|delete)\(\s*["'](/[^"']*)["']""", re.IGNORECASE)
DOC_ROUTE = re.compile(r"\b(" + METHODS + r")\b[`\s]+`?(/api/[^\s`|)]*)")
SQL_RESERVED = {"order", "group", "user", "select", "table", "index", "from", "where", "check", "references",
                "default", "transaction", "limit", "values", "key", "column", "case", "join"}  # fmt: skip
SECRET = re.compile(r"""\b(password|passwd|secret|api_key|apikey|token)\s*=\s*["'][^"'\s]{6,}["']""", re.IGNORECASE)
SEVERITY_ORDER = {"blocker": 0, "major": 1, "minor": 2, "info": 3}


def _norm(path: str) -> str:
    """A route path with its parameters made comparable: /api/x/<id>, /api/x/{id}, /api/x/:id → /api/x/{}."""
    path = re.sub(r"<[^>]*>|\{[^}]*\}|:[A-Za-z_]\w*", "{}", path)
    return path.rstrip("/") or "/"


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path.startswith("tests/") or name.startswith("test_") or name.endswith(("_test.py", ".test.js"))


class Review:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = {p: str(c) for p, c in sorted(files.items()) if p != "docs/review.md"}
        self.findings: list[tuple[str, str, int, str]] = []  # (severity, path, line, message)
        self.routes: list[tuple[str, str, str, int]] = []  # (method, path, file, line)
        self.tests = 0

    def add(self, severity: str, path: str, line: int, message: str) -> None:
        self.findings.append((severity, path, line, one_line(message, 240)))

    def run(self) -> Review:
        for path, content in self.files.items():
            if path.endswith(".py"):
                self.python(path, content)
            elif path.endswith((".js", ".mjs", ".ts")):
                self.javascript(path, content)
            elif path.endswith(".sql"):
                self.sql(path, content)
            for number, line in enumerate(content.splitlines(), 1):
                if re.search(r"\b(TODO|FIXME|XXX)\b", line):
                    self.add("minor", path, number, f"unfinished work marked in the code: {line.strip()[:80]}")
        self.route_tests()
        self.docs_against_code()
        code = [p for p in self.files if p.endswith((".py", ".js")) and not _is_test(p)]
        if code and not any(_is_test(p) for p in self.files):
            self.add("major", code[0], 1, f"{len(code)} code files and not one test file")
        self.findings.sort(key=lambda f: (SEVERITY_ORDER[f[0]], f[1], f[2], f[3]))
        return self

    def python(self, path: str, content: str) -> None:
        try:
            tree = parse_python(content, path)
        except SyntaxError as exc:
            self.add("blocker", path, exc.lineno or 1, f"does not parse: {exc.msg}")
            return
        lines = content.splitlines()
        for number, line in enumerate(lines, 1):
            if _is_test(path):
                continue
            for match in ROUTE_TUPLE.finditer(line):
                self.routes.append((match.group(1).upper(), match.group(2), path, number))
            for match in ROUTE_DECORATOR.finditer(line):
                self.routes.append((match.group(1).upper(), match.group(2), path, number))
            if SECRET.search(line):
                self.add("major", path, number, "a credential is written into the code; read it from the environment")
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if _is_test(path) and node.name.startswith("test_"):
                    self.tests += 1
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONG_FUNCTION:
                    self.add("minor", path, node.lineno, f"{node.name}() is {length} lines long; split it")
            elif isinstance(node, ast.ExceptHandler):
                silent = all(isinstance(s, ast.Pass) for s in node.body)
                if node.type is None:
                    self.add("major", path, node.lineno, "bare `except:` also catches KeyboardInterrupt and SystemExit")
                elif silent:
                    self.add("major", path, node.lineno, "an exception is swallowed with `pass`; log or handle it")
            elif _called(node) == "json.loads" and not _is_test(path) and not _inside_try(node, parents):
                self.add("major", path, node.lineno, "json.loads without a try: bad input becomes a 500, not a 400")

    def javascript(self, path: str, content: str) -> None:
        for number, line in enumerate(content.splitlines(), 1):
            if re.search(r"\.innerHTML\s*[+]?=", line) and not re.search(r"""innerHTML\s*=\s*(["'`])\1""", line):
                self.add("major", path, number, "innerHTML with data is an XSS risk; use textContent")
            if re.search(r"\beval\(", line):
                self.add("major", path, number, "eval() runs whatever string it is given")
        if "fetch(" in content and not re.search(r"\.ok\b|\.status\b", content):
            number = next(i for i, line in enumerate(content.splitlines(), 1) if "fetch(" in line)
            self.add("minor", path, number, "fetch results are used without checking response.ok")

    def sql(self, path: str, content: str) -> None:
        for number, line in enumerate(content.splitlines(), 1):
            match = re.search(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_]\w*)", line, re.IGNORECASE)
            if match and match.group(1).lower() in SQL_RESERVED:
                self.add("blocker", path, number, f"table name {match.group(1)} is a reserved word; quote it")
            if re.search(r"\bREFERENCES\b", line, re.IGNORECASE) and "foreign_keys" not in content.lower():
                self.add("minor", path, number, "foreign keys are declared but PRAGMA foreign_keys is never enabled")
                break

    def route_tests(self) -> None:
        tests = {p: c for p, c in self.files.items() if _is_test(p)}
        for method, route, path, line in self.routes:
            if _is_test(path):
                continue
            static = _norm(route).split("{}")[0].rstrip("/")
            item = "{}" in _norm(route)
            covered = False
            for content in tests.values():
                for text in content.splitlines():
                    uses_method = re.search(rf"""["']{method}["']|\.{method.lower()}\(""", text)
                    hit = (static + "/") in text if item else re.search(re.escape(static) + r"""["'/]""", text)
                    if uses_method and hit:
                        covered = True
                        break
                if covered:
                    break
            if not covered:
                self.add("major", path, line, f"no test calls {method} {route}")

    def docs_against_code(self) -> None:
        if not self.routes:
            return
        real = {(m, _norm(p)) for m, p, _, _ in self.routes}
        for path, content in self.files.items():
            if not path.endswith(".md"):
                continue
            for number, line in enumerate(content.splitlines(), 1):
                for match in DOC_ROUTE.finditer(line):
                    if (match.group(1), _norm(match.group(2))) not in real:
                        self.add(
                            "major", path, number, f"documents {match.group(1)} {match.group(2)}, which no code defines"
                        )

    def markdown(self) -> str:
        kinds: dict[str, int] = {}
        for path in self.files:
            ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else path
            kinds[ext] = kinds.get(ext, 0) + 1
        counts = ", ".join(f"{n} .{ext}" for ext, n in sorted(kinds.items()))
        tested = len(self.routes) - sum(1 for f in self.findings if f[3].startswith("no test calls"))
        out = (
            f"# Review\n\nRead {len(self.files)} files ({counts}): {len(self.routes)} routes, "
            f"{tested} of them called by a test, {self.tests} test functions.\n\n## Findings\n\n"
        )
        if self.findings:
            out += "| severity | where | finding |\n|---|---|---|\n"
            for severity, path, line, message in self.findings:
                out += f"| {severity} | `{_code(path)}:{line}` | {_cell(message)} |\n"
        else:
            out += "No findings from the static checks listed below.\n"
        if self.routes:
            out += "\n## Routes\n\n| route | defined at |\n|---|---|\n"
            for method, route, path, line in self.routes:
                out += f"| {method} `{_code(route)}` | `{_code(path)}:{line}` |\n"
        blockers = sum(1 for f in self.findings if f[0] in ("blocker", "major"))
        verdict = "changes needed" if blockers else "no blocking findings"
        out += f"\n## Verdict\n{verdict} ({blockers} blocker/major, {len(self.findings) - blockers} minor).\n"
        out += (
            "\n## What was checked\nPython parses; each route has a test that calls it; docs name only real "
            f"routes; TODO/FIXME; functions over {LONG_FUNCTION} lines; bare or silent except; json.loads outside "
            "try; innerHTML and eval in JavaScript; fetch without a status check; reserved words in SQL; "
            "credentials in code. Not checked: running the code (that is the checks report's job).\n"
        )
        return out


def _cell(text: str) -> str:
    return prose(text, 240).replace("|", "\\|").replace("`", "'")


def _code(text: str) -> str:
    """Text for inside a code span in a table cell: one line, no backticks or pipes."""
    return one_line(text, 240).replace("`", "'").replace("|", "/")


def _called(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def _inside_try(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    current = parents.get(node)
    while current is not None:
        if isinstance(current, ast.Try):
            return True
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return False
        current = parents.get(current)
    return False


def review_markdown(spec: dict, files: dict[str, str] | None) -> str:
    if files:
        return Review(files).run().markdown()
    routes = "".join(f"- `{r['method']} {r['path']}`: a test calls it; bad input answers 400\n" for r in spec["routes"])
    return (
        "# Review\n\nThe reviewer had no files to read: offline mode was not given this session's files, so "
        "this is not a review of code and it reports no findings.\n\n"
        f"## What to check once the files exist\nThis session's spec ({spec['kind']}, "
        f"{len(spec['entities'])} entities) promises these routes:\n{routes}"
    )
