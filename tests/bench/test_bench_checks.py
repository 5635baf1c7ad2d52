"""Offline projects through the sandboxed checks (`make bench`): per domain, the files every agent of a
full plan writes, and what the checks found, with their time. Prints the table; asserts only that the
checks ran (nothing about speed)."""

from __future__ import annotations

import time

import pytest

from agents_app.offline_project.spec import spec_for
from agents_app.offline_templates import AGENTS, offline_files
from agents_app.verification import checks
from agents_app.verification.sandbox import sandbox_status

pytestmark = pytest.mark.bench
INTENTS = {
    "todo": "build a todo list app",
    "notes": "build a notes app",
    "blog": "build a blog",
    "shop": "build a shop with orders",
    "booking": "build a room booking app",
    "chat": "build a chat app",
    "dashboard": "build a metrics dashboard",
    "unknown noun": "build an inventory tracker for warehouses",
    "password reset": "add password reset to the login flow",
}


def project(intent: str) -> dict[str, str]:
    spec = spec_for(intent, [], "feature")
    files: dict[str, str] = {}
    for agent in AGENTS:
        for file in offline_files(agent, intent=intent, requirements=[], visual_context={}, task_type="feature",
                                  spec=spec):  # fmt: skip
            files[file.path] = file.content
    return files


def test_offline_projects_through_the_checks():
    ok, reason = sandbox_status()
    rows = []
    for domain, intent in INTENTS.items():
        files = project(intent)
        started = time.monotonic()
        report = checks.run_checks(files)
        seconds = time.monotonic() - started
        tests = next((c["counts"] for c in report.get("checks", []) if c["tool"] == "pytest"), {})
        passed = f"{tests.get('passed', 0)}/{tests.get('tests', 0)}"
        rows.append((domain, len(files), passed, report["status"], seconds))
    print("\n\noffline projects through the sandboxed checks" + (f" (not verified: {reason})" if not ok else ""))
    print(f"{'domain':<16}{'files':>6}{'tests':>9}  {'checks':<13}{'time':>7}")
    for domain, count, tests, status, seconds in rows:
        print(f"{domain:<16}{count:>6}{tests:>9}  {status:<13}{seconds:>6.1f}s")
    assert all(status in ("passed", "failed", "not_verified") for *_, status, _ in rows)
