"""The agent runtime driven step by step (the test is the worker): claims, fencing, checkpoints,
pause/resume/cancel, feedback, approvals and conflicts."""

from __future__ import annotations

import pytest

from agents_app import planning, runtime, scheduler
from agents_app.llm.base import ToolCall
from agents_app.models import AgentRun, FailureCategory, RunStatus
from agents_app.selectors import policy_for
from agents_app.services import approvals, control
from agents_app.toolbox import Toolbox
from artifacts_app.models import ArtifactVersion
from sessions_app.errors import NotAllowed
from sessions_app.models import ApprovalRequest, DevelopmentSession, Feedback, SessionEvent
from sessions_app.services.collaboration import feedback_submit


def plan(start, **kwargs):  # noqa: ANN001, ANN003, ANN201
    """Create and plan a session inline; with the `db` fixture no task is ever dispatched."""
    session = start(**kwargs)
    assert planning.plan_session(session.pk) == "planned"
    return DevelopmentSession.objects.get(pk=session.pk)


def queued_run(session: DevelopmentSession) -> AgentRun:
    return AgentRun.objects.select_related("agent").get(session=session, status=RunStatus.QUEUED)


def step_until(run: AgentRun, attempt: int, *stop_states: str, limit: int = 80) -> str:
    for _ in range(limit):
        state = runtime.step(run.pk, attempt)
        if state != "continue" or state in stop_states:
            return state
    raise AssertionError("the agent did not stop")


@pytest.fixture
def solo(db, start):  # noqa: ANN001, ANN201
    """A member's session with one explicit agent, planned, its run queued."""
    return plan(start, agents=["requirements-analyst"])


def test_it_claims_a_run_once_and_only_with_its_task_id(solo):
    run = queued_run(solo)

    assert runtime.run_claim(run.pk, "some-other-task") is None
    assert runtime.run_claim(run.pk, run.task_id) == 1
    assert runtime.run_claim(run.pk, run.task_id) is None  # a duplicate delivery does nothing
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.RUNNING


def test_it_finishes_an_agent_with_artifacts_and_a_summary(solo):
    run = queued_run(solo)
    attempt = runtime.run_claim(run.pk, run.task_id)

    assert step_until(run, attempt) == "finished"

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and run.progress == 100 and run.summary
    assert ArtifactVersion.objects.filter(author_run=run).exists()
    assert run.checkpoint["messages"][0]["role"] == "user"


def test_a_stale_worker_writes_nothing(solo):
    run = queued_run(solo)
    stale_attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, stale_attempt) == "continue"
    # The reaper decides the worker is lost and another worker claims the run.
    run = AgentRun.objects.select_related("agent", "session").get(pk=run.pk)
    assert scheduler.queue_run(run, actor=runtime.Actor.system(), event_type="agent.requeued")
    fresh_attempt = runtime.run_claim(run.pk, run.task_id)
    versions_before = ArtifactVersion.objects.count()

    assert runtime.step(run.pk, stale_attempt) == "fenced"
    with pytest.raises(runtime.Fenced):
        runtime._commit_step(runtime.Carried(), run, stale_attempt, {}, [], _finish_response(), [])

    assert ArtifactVersion.objects.count() == versions_before
    assert fresh_attempt == stale_attempt + 1
    assert runtime.step(run.pk, fresh_attempt) == "continue"


def test_it_resumes_from_its_checkpoint_after_a_lost_worker(solo):
    run = queued_run(solo)
    attempt = runtime.run_claim(run.pk, run.task_id)
    for _ in range(2):
        assert runtime.step(run.pk, attempt) == "continue"
    saved_step = AgentRun.objects.get(pk=run.pk).step
    run = AgentRun.objects.select_related("agent", "session").get(pk=run.pk)
    scheduler.queue_run(run, actor=runtime.Actor.system(), event_type="agent.requeued")
    attempt = runtime.run_claim(run.pk, run.task_id)

    assert step_until(run, attempt) == "finished"

    started = SessionEvent.objects.filter(session=solo, type="agent.started").order_by("seq").last()
    assert started.data["resumed_from_step"] == saved_step
    paths = list(ArtifactVersion.objects.filter(author_run=run).values_list("artifact__path", flat=True))
    assert paths, "the agent wrote files"
    # Resuming from the checkpoint redoes no saved step: each file was written exactly once.
    assert sorted(paths) == sorted(set(paths)), paths
    steps = list(ArtifactVersion.objects.filter(author_run=run).values_list("author_step", flat=True))
    assert len(steps) == len(set(steps)) or all(s > 0 for s in steps)


def test_pause_is_seen_at_the_next_step_and_resume_continues(solo, cast):
    run = queued_run(solo)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, attempt) == "continue"

    control.run_pause(user=cast["member"], run=run)
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.RUNNING  # the step in flight is kept
    assert runtime.step(run.pk, attempt) == "paused"
    paused_at = AgentRun.objects.get(pk=run.pk).step
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.PAUSED

    control.run_resume(user=cast["member"], run=run)
    run = queued_run(solo)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert step_until(run, attempt) == "finished"
    assert AgentRun.objects.get(pk=run.pk).step > paused_at
    types = list(SessionEvent.objects.filter(session=solo).values_list("type", flat=True))
    assert types.index("agent.pause_requested") < types.index("agent.paused") < types.index("agent.resumed")


def test_cancel_stops_the_agent_without_another_write(solo, cast):
    run = queued_run(solo)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, attempt) == "continue"
    versions = ArtifactVersion.objects.count()

    control.session_cancel(user=cast["member"], session=solo)

    assert runtime.step(run.pk, attempt) == "fenced"
    assert ArtifactVersion.objects.count() == versions
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.failure_category == FailureCategory.CANCELLED
    assert DevelopmentSession.objects.get(pk=solo.pk).status == "cancelled"


def test_a_member_may_not_pause_a_colleagues_session(solo, cast):
    with pytest.raises(NotAllowed):
        control.session_pause(user=cast["member2"], session=solo)
    control.session_pause(user=cast["lead"], session=solo)
    assert DevelopmentSession.objects.get(pk=solo.pk).status == "paused"


def test_feedback_reaches_the_agent_at_its_next_step(solo, cast):
    run = queued_run(solo)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, attempt) == "continue"

    feedback = feedback_submit(user=cast["lead"], session=solo, text="Use British spelling throughout")
    assert runtime.step(run.pk, attempt) in ("continue", "finished")

    feedback.refresh_from_db()
    assert feedback.status == "delivered" and feedback.delivered_to_id == run.pk
    delivered = SessionEvent.objects.get(session=solo, type="feedback.delivered")
    assert delivered.data["feedback_id"] == feedback.pk
    texts = [
        block.get("text", "")
        for message in AgentRun.objects.get(pk=run.pk).checkpoint["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
    ]
    assert 'Feedback from lead (quoted user text): "Use British spelling throughout"' in texts
    step_until(run, attempt)
    contents = "".join(ArtifactVersion.objects.filter(author_run=run).values_list("content", flat=True))
    assert "Use British spelling throughout" in contents


def test_a_restricted_agents_write_waits_for_a_leads_approval(db, start, cast):
    session = plan(start, user="lead", agents=["devops"])
    run = queued_run(session)
    attempt = runtime.run_claim(run.pk, run.task_id)

    assert step_until(run, attempt) == "parked"

    run.refresh_from_db()
    approval = ApprovalRequest.objects.get(run=run, status="pending")
    assert run.status == RunStatus.AWAITING_APPROVAL
    assert not ArtifactVersion.objects.filter(artifact__path=approval.details["path"]).exists()
    with pytest.raises(NotAllowed):
        approvals.approval_decide(user=cast["member"], approval=approval, decision="approve")

    approvals.approval_decide(user=cast["lead"], approval=approval, decision="approve", comment="ship it")

    run = queued_run(session)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, attempt) == "continue"
    written = ArtifactVersion.objects.get(artifact__path=approval.details["path"])
    assert written.author_run_id == run.pk
    assert step_until(run, attempt) in ("parked", "finished")


def test_a_rejected_write_is_never_written(db, start, cast):
    session = plan(start, user="lead", agents=["devops"])
    run = queued_run(session)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert step_until(run, attempt) == "parked"
    approval = ApprovalRequest.objects.get(run=run, status="pending")

    approvals.approval_decide(user=cast["admin"], approval=approval, decision="reject", comment="not yet")
    run = queued_run(session)
    attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, attempt) == "continue"

    assert not ArtifactVersion.objects.filter(artifact__path=approval.details["path"]).exists()
    last_user = AgentRun.objects.get(pk=run.pk).checkpoint["messages"][-1]
    assert any("rejected" in str(block.get("content", "")) for block in last_user["content"])


def test_two_agents_writing_one_path_is_a_conflict_not_an_overwrite(db, start):
    session = plan(start, agents=["backend", "frontend"], execution_strategy="parallel")
    first, second = AgentRun.objects.filter(session=session).select_related("agent", "session")[:2]
    policy = policy_for(session.organization)

    def write(run: AgentRun, checkpoint: dict, content: str) -> dict:
        toolbox = Toolbox(run, checkpoint, policy, step=1)
        return toolbox.run_calls(
            [ToolCall(id=f"t-{run.pk}", name="write_file", input={"path": "app/shared.py", "content": content})]
        ).tool_results[0]

    assert write(first, {}, "A = 1\n")["content"].startswith("ok")
    second_checkpoint: dict = {}
    refused = write(second, second_checkpoint, "B = 2\n")

    assert refused["is_error"] and "conflict" in refused["content"]
    assert list(ArtifactVersion.objects.filter(artifact__path="app/shared.py").values_list("content", flat=True)) == [
        "A = 1\n"
    ]
    conflict = SessionEvent.objects.get(session=session, type="artifact.conflict")
    assert conflict.data["latest_author"] == first.agent.slug
    # Having now seen v1, the second agent may write its merged version.
    assert write(second, second_checkpoint, "A = 1\nB = 2\n")["content"].startswith("ok")
    assert ArtifactVersion.objects.filter(artifact__path="app/shared.py").count() == 2


def test_feedback_is_refused_on_a_finished_session(solo, cast):
    control.session_cancel(user=cast["lead"], session=solo)
    with pytest.raises(Exception, match="cancelled"):
        feedback_submit(user=cast["member"], session=DevelopmentSession.objects.get(pk=solo.pk), text="late")
    assert not Feedback.objects.exists()


def _finish_response():  # noqa: ANN202
    from decimal import Decimal

    from agents_app.llm.base import LLMResponse, Usage

    call = ToolCall(id="t1", name="finish", input={"summary": "done"})
    return LLMResponse(
        text="",
        tool_calls=[call],
        stop_reason="tool_use",
        usage=Usage(),
        model="offline",
        provider="offline",
        latency_ms=0,
        cost_usd=Decimal(0),
        content=[{"type": "tool_use", "id": "t1", "name": "finish", "input": {"summary": "done"}}],
    )


def test_the_token_budget_counts_every_kind_of_token(solo, acme):
    """Cache reads and writes are billed tokens too: the budget is checked on the true total."""
    from agents_app.llm.base import CallContext, Usage
    from agents_app.llm.recording import record_call
    from agents_app.models import AgentPolicy

    AgentPolicy.objects.update_or_create(organization=acme, defaults={"token_budget_per_session": 1_000})
    run = queued_run(solo)
    attempt = runtime.run_claim(run.pk, run.task_id)
    record_call(
        CallContext(purpose="selection", session_id=solo.pk),
        provider="anthropic",
        model="claude-sonnet-5-5",
        usage=Usage(input_tokens=100, output_tokens=50, cache_read_tokens=700, cache_write_tokens=200),
    )

    assert runtime.step(run.pk, attempt) == "failed"

    run.refresh_from_db()
    assert run.failure_category == FailureCategory.BUDGET and "1,050 tokens" in run.error


def test_every_refused_tool_call_is_an_event_and_an_audit_entry(solo):
    from sessions_app.models import AuditEntry

    run = AgentRun.objects.select_related("agent", "session__organization").get(session=solo)
    toolbox = Toolbox(run, {}, policy_for(solo.organization), step=1)
    calls = [
        ToolCall(id="t1", name="request_approval", input={"action": "deploy", "summary": "ship"}),
        ToolCall(id="t2", name="drop_database", input={}),
        ToolCall(id="t3", name="write_file", input={"path": "../../etc/cron.d/x", "content": "* * * * * root sh"}),
        ToolCall(id="t4", name="read_file", input={"path": "/etc/passwd"}),
        ToolCall(id="t5", name="list_files", input={}),
    ]

    results = toolbox.run_calls(calls).tool_results

    assert [r.get("is_error", False) for r in results] == [True, True, True, True, False]
    assert all(r["content"].startswith("refused: ") for r in results[:4])
    refused = list(SessionEvent.objects.filter(session=solo, type="agent.tool_refused").order_by("seq"))
    assert [e.data["tool"] for e in refused] == ["request_approval", "drop_database", "write_file", "read_file"]
    assert "not available to requirements-analyst" in refused[0].data["reason"]
    assert "unknown tool" in refused[1].data["reason"]
    assert "inside the session workspace" in refused[2].data["reason"]
    audit = AuditEntry.objects.filter(action="agent.tool_refused", organization=solo.organization)
    assert audit.count() == 4 and {a.target_id for a in audit} == {run.public_id}
    assert not ArtifactVersion.objects.filter(artifact__session=solo).exists()
