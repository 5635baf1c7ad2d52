"""Running one agent: claim the run, then step until it finishes, parks, stops or its slice ends.

Each step is one LLM call followed by ONE transaction that applies its tool calls, saves the
checkpoint (conversation, step number, versions seen) and the heartbeat. That transaction is
fenced: it only commits while the run is still RUNNING under this worker's attempt number, so a
stale worker (lost heartbeat, duplicate delivery, cancelled run) writes nothing. A worker that
dies mid-step loses only that step; whoever claims the run next resumes from the checkpoint.

A task runs a bounded slice (HARNESS_AGENT_SLICE_STEPS steps or HARNESS_AGENT_SLICE_SECONDS) and
queues the run again under the same task id — a continuation — so no time limit kills a healthy
agent. A model fault that may pass (overload, rate limit, timeout…) queues the run again after a
backoff, recorded as `agent.retrying`; after HARNESS_LLM_MAX_RETRIES in a row the run fails with
the fault's category. Any other exception fails the run with category `internal`: nothing ends
unrecorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents_app import briefing, dispatch, retry_policy, scheduler, transcripts
from agents_app.deltas import DeltaPublisher
from agents_app.heartbeat import beating
from agents_app.knowledge import knowledge_snippets
from agents_app.llm import get_provider, recording
from agents_app.llm.base import CallContext, LLMError, LLMRequest, LLMResponse
from agents_app.models import AgentPolicy, AgentRun, FailureCategory, RunStatus, StepKind
from agents_app.run_queue import park_paused
from agents_app.selectors import policy_for
from agents_app.services import conversation
from agents_app.services.knowledge import knowledge_consulted
from agents_app.signatures import error_signature
from agents_app.toolbox import Toolbox
from agents_app.tools import tools_for
from agents_app.verification_phase import checked_files
from sessions_app.events import Actor, event_batch, event_record, open_batch, session_lock_row
from sessions_app.models import ApprovalRequest, Feedback, FeedbackStatus, Requirement

logger = logging.getLogger(__name__)

MAX_CUTS_IN_A_ROW = 2
CUT_OFF_NOTE = (
    "Your previous answer was cut off at the max_tokens limit ({limit} tokens) before it was complete; "
    "nothing in it was carried out. Go on with smaller pieces: one file per write_file call, and split "
    "large files into several smaller ones."
)


class Fenced(Exception):
    """The run is no longer this worker's (cancelled, paused, requeued): stop without writing."""


def run_claim(run_id: int, task_id: str) -> int | None:
    """QUEUED → RUNNING by conditional update; only a delivery of the run's current task id may claim.
    Returns the new attempt number (the fencing token), or None when someone else has it."""
    now = timezone.now()
    with transaction.atomic():
        run = AgentRun.objects.filter(pk=run_id).only("session_id").first()
        if run is None:
            return None
        session_lock_row(run.session_id)
        claimed = AgentRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, task_id=task_id).update(
            status=RunStatus.RUNNING,
            attempt=F("attempt") + 1,
            heartbeat_at=now,
            retry_at=None,
            started_at=Coalesce("started_at", now),
        )
        if not claimed:
            return None
        recording.count_uncounted(run_id=run_id)  # a call whose step was lost with its worker
        run = AgentRun.objects.select_related("agent", "session").get(pk=run_id)
        continued = bool(run.checkpoint.pop("continued", False))
        if continued:
            run.save(update_fields=["checkpoint"])
        event_record(
            session=run.session,
            type="agent.continued" if continued else "agent.started",
            actor=Actor.for_agent(run.agent.slug, run.agent.name),
            run=run,
            data={"agent": run.agent.slug, "attempt": run.attempt, "resumed_from_step": run.step},
        )
        return run.attempt


def execute(run_id: int, task_id: str) -> str:
    """One task's slice of a run. Returns how it stopped."""
    attempt = run_claim(run_id, task_id)
    if attempt is None:
        return "not-claimed"
    state = "continue"
    deadline = time.monotonic() + settings.HARNESS_AGENT_SLICE_SECONDS
    steps_left = settings.HARNESS_AGENT_SLICE_STEPS
    touch = AgentRun.objects.filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING)
    carried = Carried()
    with beating(lambda: touch.update(heartbeat_at=timezone.now()), name=f"run-{run_id}"):
        while state == "continue":
            if steps_left <= 0 or time.monotonic() >= deadline:
                state = _continue_later(run_id, attempt)
                break
            state = _guarded_step(run_id, attempt, carried)
            steps_left -= 1
    if state in ("finished", "failed"):
        scheduler.advance(AgentRun.objects.values_list("session_id", flat=True).get(pk=run_id))
    logger.info("run %s attempt %s stopped: %s", run_id, attempt, state)
    return state


def _guarded_step(run_id: int, attempt: int, carried: Carried | None = None) -> str:
    """A step whose every way of ending is recorded: fenced, a retry, or a failure with a category."""
    try:
        return step(run_id, attempt, carried)
    except Fenced:
        _count_lost_calls(run_id)
        return "fenced"
    except LLMError as exc:
        _count_lost_calls(run_id)
        run = AgentRun.objects.select_related("agent", "session").get(pk=run_id)
        if exc.retryable:
            return _retry_later(run, attempt, exc)
        category = exc.category if exc.category in FailureCategory.values else FailureCategory.LLM_ERROR
        return _fail_or_fenced(run, attempt, category, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug or an outage must end in an event, not a silent task
        logger.exception("run %s step failed", run_id)
        _count_lost_calls(run_id)
        run = AgentRun.objects.select_related("agent", "session").get(pk=run_id)
        fault = LLMError(f"{type(exc).__name__}: {exc}", category=FailureCategory.INTERNAL, retryable=True)
        return _retry_later(run, attempt, fault)


@dataclass
class Carried:
    """What one task's steps share. Loaded at its first step; each committed step hands on the run as its fenced
    read found it (with what changed for it: feedback, requirements), so the steps in between read nothing."""

    run: AgentRun | None = None
    policy: AgentPolicy | None = None
    requirements: list[str] | None = None
    requirements_mark: Any = None


def _with_marks(runs: QuerySet[AgentRun]) -> QuerySet[AgentRun]:
    """The run with its agent, session and organisation, and two marks that say when to read more: how much
    feedback is meant for it, and when the session's requirements last changed."""
    feedback = (
        Feedback.objects.filter(session_id=OuterRef("session_id"))
        .filter(Q(run__isnull=True) | Q(run_id=OuterRef("pk")))
        .order_by()
        .values("session_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    requirements = (
        Requirement.objects.filter(session_id=OuterRef("session_id")).order_by("-updated_at").values("updated_at")[:1]
    )
    return runs.select_related("agent", "session__organization").annotate(
        feedback_count=Coalesce(Subquery(feedback), 0), requirements_mark=Subquery(requirements)
    )


def _count_lost_calls(run_id: int) -> None:
    """The step did not commit: its model call is billed all the same (`recording.count_uncounted`)."""
    with transaction.atomic():
        session_id = AgentRun.objects.values_list("session_id", flat=True).filter(pk=run_id).first()
        if session_id is not None:
            session_lock_row(session_id)
            recording.count_uncounted(run_id=run_id)


def step(run_id: int, attempt: int, carried: Carried | None = None) -> str:
    """One step. Returns "continue", "finished", "parked", "paused", "failed" or "fenced".
    Raises LLMError when the model call fails (the caller retries or fails the run)."""
    carried = carried if carried is not None else Carried()
    run = carried.run or _with_marks(AgentRun.objects.filter(pk=run_id)).get()
    carried.run = None  # only a committed step hands the run on
    if run.status != RunStatus.RUNNING or run.attempt != attempt:
        return "fenced"
    if run.control_request == "pause":
        return _pause_at_boundary(run, attempt)
    checkpoint: dict[str, Any] = dict(run.checkpoint or {})
    if checkpoint.get("pending"):
        return _settle_decision(run, attempt, checkpoint)

    if carried.policy is None:
        carried.policy = policy_for(run.session.organization)
    policy = carried.policy
    if carried.requirements is None or carried.requirements_mark != run.requirements_mark:
        carried.requirements, carried.requirements_mark = briefing.active_requirements(run), run.requirements_mark
    if run.session.tokens_used >= policy.token_budget_per_session:
        return fail(
            run,
            attempt,
            FailureCategory.BUDGET,
            f"token budget of {policy.token_budget_per_session:,} used up ({run.session.tokens_used:,} tokens, "
            "cache included); an admin can raise it in the organisation's agent policy",
        )
    if run.step >= settings.HARNESS_AGENT_MAX_STEPS:
        return fail(run, attempt, FailureCategory.VALIDATION, f"did not finish within {run.step} steps")

    messages = list(checkpoint.get("messages") or [_briefing_with_knowledge(run, carried.requirements)])
    feedback = _undelivered_feedback(run, checkpoint)
    if feedback:
        messages = _append_user(messages, [briefing.feedback_block(f) for f in feedback])

    provider = get_provider()
    request = LLMRequest(
        system=briefing.system_prompt(run),
        messages=messages,
        tools=tools_for(run.agent.tools),
        context=CallContext(
            purpose="agent_step",
            session_id=run.session_id,
            run_id=run.pk,
            defer_counting=True,
            offline_hint=briefing.offline_hint(run, requirements=carried.requirements),
        ),
        max_tokens=settings.HARNESS_AGENT_MAX_TOKENS,
        cache=True,
    )
    publisher = DeltaPublisher(run)
    try:
        response = provider.complete(request, on_text=publisher)
    finally:
        publisher.flush()
    checked = _run_requested_checks(run, response)
    return _commit_step(carried, run, attempt, checkpoint, messages, response, feedback, checked)


def _run_requested_checks(run: AgentRun, response: LLMResponse) -> dict[str, dict]:
    """`run_checks` calls run here, before the step's transaction: a sandbox takes seconds, a lock must not."""
    calls = [c for c in response.tool_calls if c.name == "run_checks"]
    if not calls or "run_checks" not in (run.agent.tools or []):
        return {}
    from agents_app.verification import checks

    files = {path: content for path, (_, content) in checked_files(run.session).items()}
    report = checks.run_checks(files)
    return {call.id: report for call in calls}


def _briefing_with_knowledge(run: AgentRun, requirements: list[str] | None = None) -> dict:
    """The first message, with the organisation knowledge most relevant to this agent (recorded as consulted)."""
    knowledge = knowledge_snippets(run.session, agent=run.agent, limit=3)
    if knowledge:
        with transaction.atomic():
            knowledge_consulted(
                session=run.session, decision=f"briefing of {run.agent.slug}", documents=knowledge, run=run
            )
    return briefing.first_message(run, knowledge=knowledge, requirements=requirements)


def _append_user(messages: list[dict], blocks: list[dict]) -> list[dict]:
    """Add blocks as the newest user turn (joined to the last one if it is a user turn: turns alternate)."""
    if messages and messages[-1]["role"] == "user":
        content = messages[-1]["content"]
        existing = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        return [*messages[:-1], {"role": "user", "content": existing + blocks}]
    return [*messages, {"role": "user", "content": blocks}]


def _lock_fenced(run_id: int, attempt: int) -> AgentRun:
    """Session and run locked by one read, if the run is still this worker's."""
    return _run_fenced(run_id, attempt, lock_session=True)


def _run_fenced(run_id: int, attempt: int, *, lock_session: bool = False) -> AgentRun:
    """The run, locked, if it is still RUNNING under `attempt`. `lock_session`: lock its session row in the same
    statement, session first (`OF session, run`: PostgreSQL locks in that order), as every writer does."""
    locks = ("session", "self") if lock_session else ("self",)
    runs = AgentRun.objects.select_for_update(of=locks, no_key=True)
    run = _with_marks(runs.filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING)).first()
    if run is None:
        raise Fenced(run_id)
    return run


@contextmanager
def _step_transaction(carried: Carried, run: AgentRun, attempt: int) -> Iterator[AgentRun]:
    """The step's one transaction: the session row and the run locked by one read, fenced to this worker's attempt;
    the step's events written together at the end. Committed, the run as read here is handed on to the next step."""
    with transaction.atomic():
        fresh = _run_fenced(run.pk, attempt, lock_session=True)
        with event_batch(fresh.session, locked_seq=fresh.session.last_event_seq):
            yield fresh
    carried.run = fresh


def _commit_step(
    carried: Carried,
    run: AgentRun,
    attempt: int,
    checkpoint: dict,
    messages: list[dict],
    response: LLMResponse,
    feedback: list[Feedback],
    checked: dict[str, dict] | None = None,
) -> str:
    if response.stop_reason == "max_tokens":
        return _commit_cut_off_step(carried, run, attempt, checkpoint, messages, response, feedback)
    with _step_transaction(carried, run, attempt) as run:
        policy = carried.policy or policy_for(run.session.organization)
        toolbox = Toolbox(run, checkpoint, policy, step=run.step + 1, checked=checked)
        outcome = toolbox.run_calls(response.tool_calls)
        messages.append({"role": "assistant", "content": response.content})
        if outcome.parked:
            checkpoint["pending_results"] = outcome.tool_results
        elif response.tool_calls:
            messages.append({"role": "user", "content": outcome.tool_results})
        else:
            nudge = "Use the tools to do your part, then call finish with a summary."
            messages.append({"role": "user", "content": [{"type": "text", "text": nudge}]})
        checkpoint["messages"] = messages
        checkpoint["cuts_in_a_row"] = 0
        transcripts.step_record(
            run=run, response=response, tool_results=outcome.tool_results, feedback=feedback, checkpoint=checkpoint,
            messages=messages,
        )  # fmt: skip
        _save_step(run, checkpoint, feedback, response)
        conversation.feedback_acknowledge(run=run, feedback=feedback, said=response.text)
        if outcome.finished:
            conversation.changes_report(run=run)
            event_record(
                session=run.session,
                type="agent.completed",
                actor=toolbox.actor,
                run=run,
                data={"agent": run.agent.slug, "summary": run.summary, "steps": run.step, **_run_usage(run)},
            )
            return "finished"
    return "parked" if outcome.parked else "continue"


def _commit_cut_off_step(
    carried: Carried,
    run: AgentRun,
    attempt: int,
    checkpoint: dict,
    messages: list[dict],
    response: LLMResponse,
    feedback: list[Feedback],
) -> str:
    """An answer cut off at max_tokens: none of its tool calls run; the model is told and goes on."""
    cuts = int(checkpoint.get("cuts_in_a_row", 0)) + 1
    limit = settings.HARNESS_AGENT_MAX_TOKENS
    with _step_transaction(carried, run, attempt) as run:
        if cuts >= MAX_CUTS_IN_A_ROW:
            recording.count_uncounted(run_id=run.pk)  # the cut answer was billed; no step names it
            return fail(
                run,
                attempt,
                FailureCategory.TRUNCATED,
                f"the model's answer was cut off at the max_tokens limit ({limit}) {cuts} times in a row; "
                "retry the agent, or give feedback asking for smaller files",
            )
        kept = [b for b in response.content if b.get("type") == "text" and b.get("text")]
        if kept:
            messages.append({"role": "assistant", "content": kept})
        messages = _append_user(messages, [{"type": "text", "text": CUT_OFF_NOTE.format(limit=limit)}])
        checkpoint["messages"], checkpoint["cuts_in_a_row"] = messages, cuts
        transcripts.step_record(
            run=run, response=response, tool_results=None, feedback=feedback, checkpoint=checkpoint,
            messages=messages, kind=StepKind.TRUNCATED,
        )  # fmt: skip
        _save_step(run, checkpoint, feedback, response)
        conversation.feedback_acknowledge(run=run, feedback=feedback, said="")
        event_record(
            session=run.session,
            type="agent.truncated",
            actor=Actor.system(),
            run=run,
            data={"agent": run.agent.slug, "step": run.step, "cuts": cuts, "max_tokens": limit},
        )
    return "continue"


def _save_step(run: AgentRun, checkpoint: dict, feedback: list[Feedback], response: LLMResponse) -> None:
    """The run's row in one statement: checkpoint, step, what the tools changed and the step's usage (the session's
    usage goes with its event counter, see `recording.count_in_step`)."""
    checkpoint["feedback_seen"] = sorted(set(checkpoint.get("feedback_seen", [])) | {f.pk for f in feedback})
    run.checkpoint, run.step, run.heartbeat_at = checkpoint, run.step + 1, timezone.now()
    run.fault_retries = 0
    batch = open_batch(run.session_id)
    batch.session_fields.update(recording.count_in_step(run, response))
    run.save(
        update_fields=[
            "checkpoint", "step", "heartbeat_at", "status", "progress", "current_activity", "summary",
            "finished_at", "fault_retries", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
            "cost_usd",
        ]
    )  # fmt: skip
    _mark_delivered(run, feedback)


def _run_usage(run: AgentRun) -> dict:
    fresh = AgentRun.objects.values(
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd"
    ).get(pk=run.pk)
    tokens = sum(fresh[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"))
    return {"tokens": tokens, "cost_usd": str(fresh["cost_usd"])}


def _settle_decision(run: AgentRun, attempt: int, checkpoint: dict) -> str:
    if "question" in checkpoint["pending"]:
        return _settle_answer(run, attempt, checkpoint)
    approval = ApprovalRequest.objects.get(public_id=checkpoint["pending"]["approval"])
    if approval.is_pending():
        return "parked"
    with transaction.atomic():
        run = _lock_fenced(run.pk, attempt)
        toolbox = Toolbox(run, checkpoint, policy_for(run.session.organization), step=run.step + 1)
        pending = dict(checkpoint["pending"])
        settled = toolbox.settle_pending(approval.status, approval.comment)
        transcripts.decision_record(run=run, approval=approval, pending=pending, result=settled)
        _resume_with(run, checkpoint, settled)
    return "continue"


def _settle_answer(run: AgentRun, attempt: int, checkpoint: dict) -> str:
    """A parked question: its answer becomes the `ask_human` result; unanswered, the run waits again."""
    with transaction.atomic():
        run = _lock_fenced(run.pk, attempt)
        pending = checkpoint["pending"]
        settled = conversation.question_settle(run=run, pending=pending)
        if settled is None:
            conversation.question_repark(run=run, pending=pending)
            return "parked"
        checkpoint.pop("pending")
        _resume_with(run, checkpoint, settled)
    return "continue"


def _resume_with(run: AgentRun, checkpoint: dict, settled: dict) -> None:
    """The parked tool call's result (a decision, an answer) goes back to the model with the step's other results."""
    messages = list(checkpoint.get("messages", []))
    messages.append({"role": "user", "content": [*checkpoint.pop("pending_results", []), settled]})
    checkpoint["messages"] = messages
    run.checkpoint, run.step, run.heartbeat_at = checkpoint, run.step + 1, timezone.now()
    run.save(update_fields=["checkpoint", "step", "heartbeat_at"])


def _pause_at_boundary(run: AgentRun, attempt: int) -> str:
    with transaction.atomic():
        park_paused(_lock_fenced(run.pk, attempt))
    return "paused"


def _continue_later(run_id: int, attempt: int) -> str:
    """The slice is used up: queue the run again under the same task id; it resumes from its checkpoint."""
    with transaction.atomic():
        try:
            run = _lock_fenced(run_id, attempt)
        except Fenced:
            return "fenced"
        run.checkpoint = {**run.checkpoint, "continued": True}
        run.status, run.queued_at = RunStatus.QUEUED, timezone.now()
        run.save(update_fields=["checkpoint", "status", "queued_at"])
        dispatch.run_agent_on_commit(run.pk, run.task_id)
    return "continued"


def _retry_later(run: AgentRun, attempt: int, fault: LLMError) -> str:
    """A fault that may pass: queue again after a backoff (same task id), or fail when the budget is spent."""
    if run.fault_retries >= retry_policy.attempts_allowed():
        tries = run.fault_retries + 1
        return _fail_or_fenced(
            run, attempt, _category(fault), f"gave up after {tries} attempt{'s' if tries > 1 else ''}: {fault}"
        )
    delay = retry_policy.backoff_seconds(run.fault_retries, fault.retry_after)
    with transaction.atomic():
        try:
            run = _lock_fenced(run.pk, attempt)
        except Fenced:
            return "fenced"
        now = timezone.now()
        run.fault_retries += 1
        run.status, run.queued_at, run.retry_at = RunStatus.QUEUED, now, now + timedelta(seconds=delay)
        run.save(update_fields=["fault_retries", "status", "queued_at", "retry_at"])
        event_record(
            session=run.session,
            type="agent.retrying",
            actor=Actor.system(),
            run=run,
            data={
                "agent": run.agent.slug,
                "automatic": True,
                "reason": str(fault)[:500],
                "category": _category(fault),
                "attempt": run.fault_retries,
                "max_attempts": retry_policy.attempts_allowed(),
                "delay_seconds": round(delay, 3),
                "next_attempt_at": run.retry_at.isoformat(),
                "step": run.step,
            },
        )
        dispatch.run_agent_on_commit(run.pk, run.task_id, countdown=delay)
    return "retrying"


def _category(fault: LLMError) -> str:
    return fault.category if fault.category in FailureCategory.values else FailureCategory.LLM_ERROR


def _fail_or_fenced(run: AgentRun, attempt: int, category: str, error: str) -> str:
    try:
        return fail(run, attempt, category, error)
    except Fenced:
        return "fenced"


def fail(run: AgentRun, attempt: int, category: str, error: str) -> str:
    with transaction.atomic():
        run = _lock_fenced(run.pk, attempt)
        run.status, run.failure_category, run.error = RunStatus.FAILED, category, error[:2000]
        run.finished_at, run.retry_at = timezone.now(), None
        run.save(update_fields=["status", "failure_category", "error", "finished_at", "retry_at"])
        event_record(
            session=run.session,
            type="agent.failed",
            actor=Actor.system(),
            run=run,
            data={
                "agent": run.agent.slug,
                "category": category,
                "error": run.error,
                "signature": error_signature(run.error),
                "step": run.step,
            },
        )
    return "failed"


# --- feedback ---------------------------------------------------------------------------------------


def _undelivered_feedback(run: AgentRun, checkpoint: dict) -> list[Feedback]:
    """Feedback for this run, or for the whole session, that this run has not seen yet."""
    seen = set(checkpoint.get("feedback_seen", []))
    if getattr(run, "feedback_count", None) is not None and run.feedback_count <= len(seen):
        return []  # nothing new for this run (counted by the read that found the run)
    candidates = Feedback.objects.filter(session_id=run.session_id).select_related("author").order_by("id")
    return [f for f in candidates if f.pk not in seen and f.run_id in (None, run.pk)]


def _mark_delivered(run: AgentRun, feedback: list[Feedback]) -> None:
    now = timezone.now()
    for item in feedback:
        Feedback.objects.filter(pk=item.pk, status=FeedbackStatus.PENDING).update(
            status=FeedbackStatus.DELIVERED, delivered_at=now, delivered_to=run
        )
        event_record(
            session=run.session,
            type="feedback.delivered",
            actor=Actor.for_agent(run.agent.slug, run.agent.name),
            run=run,
            data={"feedback_id": item.pk, "agent": run.agent.slug, "step": run.step},
        )
