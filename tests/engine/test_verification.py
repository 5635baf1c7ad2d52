"""The verification phase on a real worker: checks run in the sandbox after the agents finish, the
report is events and a versioned file, failing findings go back to the agent that wrote the file
for a repair round, and the policy decides what a failure means."""

from __future__ import annotations

import io
import json
import zipfile

from agents_app.models import AgentPolicy, AgentRun, VerificationRun
from sessions_app.models import Feedback, SessionEvent
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.support import assert_gap_free, wait_for, wait_for_status


def events(session, type_: str) -> list[dict]:  # noqa: ANN001
    return list(SessionEvent.objects.filter(session=session, type=type_).order_by("seq").values_list("data", flat=True))


def set_policy(acme, **fields) -> None:  # noqa: ANN001, ANN003
    AgentPolicy.objects.update_or_create(organization=acme, defaults=fields)


def test_a_failing_test_goes_back_to_its_writer_and_the_repaired_session_passes(worker, start, acme, calc_project):
    set_policy(acme, verification="report", verification_repair_rounds=2)

    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=120)

    assert session.status == "completed", session.completion_summary
    completed = events(session, "verification.completed")
    assert [(c["round"], c["status"]) for c in completed] == [(0, "failed"), (1, "passed")], completed
    failing = [c for c in events(session, "verification.check") if c["status"] == "failed"]
    assert failing and failing[0]["tool"] == "pytest"
    assert any(f["path"] == "tests/test_calc.py" for f in failing[0]["findings"])
    run = AgentRun.objects.get(session=session)
    repair = Feedback.objects.get(session=session, author__isnull=True)
    assert repair.run_id == run.pk and repair.status == "delivered" and "test_add" in repair.text
    queued = events(session, "agent.queued")
    assert queued[-1]["repair_round"] == 1
    assert "Checks: passed" in session.completion_summary
    finished = events(session, "session.completed")[0]
    assert finished["verification"]["status"] == "passed" and finished["verification"]["round"] == 1
    assert_gap_free(session)


def test_under_a_gate_failing_checks_fail_the_session(worker, start, acme, calc_project):
    set_policy(acme, verification="gate", verification_repair_rounds=0)

    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=120)

    assert session.status == "failed"
    failed = events(session, "session.failed")[0]
    assert failed["category"] == "verification" and failed["verification"]["status"] == "failed"
    assert not Feedback.objects.filter(session=session, author__isnull=True).exists()


def test_the_report_is_a_versioned_file_in_the_export_and_the_api(worker, start, acme, api, cast, calc_project):
    set_policy(acme, verification="report", verification_repair_rounds=0)
    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=120)
    member = api(cast["member"])

    detail = member.get(f"/api/v1/sessions/{session.public_id}/").json()
    report = member.get(f"/api/v1/sessions/{session.public_id}/verification/").json()
    export = member.get(f"/api/v1/sessions/{session.public_id}/export.zip")

    assert detail["verification"]["status"] == "failed" and detail["verification"]["id"].startswith("ver_")
    assert report["status"] == "failed" and report["report"]["checks"]
    assert {c["tool"] for c in report["report"]["checks"]} >= {"compile", "pytest"}
    with zipfile.ZipFile(io.BytesIO(export.getvalue())) as archive:  # streamed: no .content
        saved = json.loads(archive.read(f"{session.public_id}/.harness/verification.json"))
    assert saved["verification"] == report["id"] and saved["status"] == "failed"


def test_collaborators_run_the_checks_again_and_others_may_not(worker, start, acme, api, cast, calc_project):
    set_policy(acme, verification="report", verification_repair_rounds=0)
    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=120)
    url = f"/api/v1/sessions/{session.public_id}/verification/"

    assert api(cast["outsider"]).post(url).status_code == 404
    assert api(None).post(url).status_code == 401
    first = api(cast["member2"]).post(url)
    again = api(cast["member"]).post(url)

    assert first.status_code == 202, first.content
    assert again.status_code == 409 and "already" in again.json()["detail"]
    wait_for(
        lambda: VerificationRun.objects.get(public_id=first.json()["id"]).is_finished(), timeout=60, what="the re-run"
    )
    rerun = VerificationRun.objects.get(public_id=first.json()["id"])
    assert rerun.requested_by == cast["member2"] and rerun.status == "failed"
    assert SessionEvent.objects.get(session=session, type="verification.queued", actor_kind="user").data["files"] == 4


def test_without_a_sandbox_the_report_says_not_verified_and_nothing_runs(worker, start, acme, settings, calc_project):
    settings.HARNESS_BWRAP = "/nonexistent/bwrap"
    set_policy(acme, verification="report")

    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=120)

    assert session.status == "completed"
    completed = events(session, "verification.completed")
    assert [c["status"] for c in completed] == ["not_verified"]
    assert "bubblewrap" in completed[0]["reason"] or "bwrap" in completed[0]["reason"]
    assert events(session, "verification.check") == []


def test_policy_off_runs_no_checks(worker, start, acme, calc_project):
    set_policy(acme, verification="off")

    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=120)

    assert session.status == "completed"
    assert not VerificationRun.objects.filter(session=session).exists()
    assert "verification" not in events(session, "session.completed")[0]


def test_the_model_path_runs_the_checks_and_reads_their_result(worker, start, acme, settings, fake_anthropic):  # noqa: F811
    set_policy(acme, verification="off")
    settings.HARNESS_LLM, settings.ANTHROPIC_API_KEY = "anthropic", "k"
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    fake_anthropic.queue_tool_use("write_file", {"path": "app/calc.py", "content": "def add(a, b)\n    return a + b\n"})
    fake_anthropic.queue_tool_use("run_checks", {})
    fake_anthropic.queue_tool_use("finish", {"summary": "wrote calc"})

    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=60)

    assert session.status == "completed", session.completion_summary
    assert fake_anthropic.violations == []
    after_checks = fake_anthropic.requests[2]["body"]["messages"][-1]["content"]
    result = next(b for b in after_checks if b.get("type") == "tool_result")
    report = json.loads(result["content"] if isinstance(result["content"], str) else result["content"][0]["text"])
    assert report["status"] == "failed" and result.get("is_error") is True
    compile_check = next(c for c in report["checks"] if c["tool"] == "compile")
    assert compile_check["findings"][0]["path"] == "app/calc.py" and compile_check["findings"][0]["line"] == 1
