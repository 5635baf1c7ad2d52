"""Schemathesis over every operation of /api/schema/, as acme's member, against daphne on the test database.

Its default checks (no server error; status codes, content types, response bodies and headers as documented;
invalid data rejected; valid data accepted) must find nothing. Half of the generated ids and organisation slugs
are swapped for real objects (tests/api/schemathesis_hooks.py) so success paths are fuzzed as well as 404s; the
few 400/415 answers that depend on facts no JSON schema can state are listed with their reason in
tests/api/schemathesis.toml. Bounded: 25 examples per operation, a fixed seed, one worker (CPython 3.11's parser
is not thread-safe: Hypothesis reading lambdas in two threads raised "AST constructor recursion depth mismatch")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.conftest import _tasks_in_flight, start_daphne, stop_daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 25


def _schemathesis(url: str, token: str, ids: dict, report: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
        "HARNESS_SCHEMATHESIS_IDS": json.dumps(ids),
    }
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", "tests/api/schemathesis.toml",
        "run", f"{url}/api/schema/", "--header", f"Authorization: Token {token}",
        "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--seed", "1", "--no-color",
        "--request-timeout", "20",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _leave_nothing_running() -> None:
    """Sessions the fuzzer started are cancelled and their queued tasks dropped: no worker keeps running them."""
    import time

    from config.celery import app
    from sessions_app.models import DevelopmentSession

    DevelopmentSession.objects.exclude(status__in=["completed", "failed", "cancelled"]).update(status="cancelled")
    app.control.purge()
    deadline = time.monotonic() + 60
    while _tasks_in_flight and time.monotonic() < deadline:
        time.sleep(0.1)


def test_it_passes_schemathesis_over_every_operation(world, tmp_path) -> None:  # noqa: ANN001
    token, _ = Token.objects.get_or_create(user=world["users"]["member"])
    ids = {
        "organization": "acme",
        "session_id": world["session"].public_id,
        "run_id": world["runs"]["paused"].public_id,
        "approval_id": world["approval"].public_id,
        "artifact_id": world["artifact"].public_id,
        "document_id": world["knowledge"].public_id,
    }
    server, url = start_daphne(tmp_path)
    report = tmp_path / "schemathesis.json"
    try:
        result = _schemathesis(url, token.key, ids, report)
    finally:
        stop_daphne(server)
        _leave_nothing_running()
    assert report.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text())
    operations, cases = data["operations"], data["test_cases"]
    failures = sum(f["count"] for f in data["failures"])
    print(
        f"\nschemathesis: {operations['tested']}/{operations['total']} operations, {cases['generated']} test cases, "
        f"{failures} failures, {len(data['errors'])} errors in {data['running_time']:.0f} s"
    )
    assert operations["tested"] == operations["total"] >= 30
    assert data["complete"] and data["stop_reason"] == "completed", data["stop_reason"]
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "schemathesis.txt").write_text(result.stdout)
    assert failures == 0 and not data["errors"], result.stdout[-12000:]
    assert result.returncode == 0, result.stdout[-6000:]
