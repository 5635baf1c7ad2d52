"""Running one agent: claim the run, then step until it finishes, parks or is stopped.

Each step is one LLM call followed by ONE transaction that applies its tool calls, saves the
checkpoint (conversation, step number, versions seen) and the heartbeat. That transaction is
fenced: it only commits while the run is still RUNNING under this worker's attempt number, so a
stale worker (lost heartbeat, duplicate delivery, cancelled run) writes nothing. A worker that
dies mid-step loses only that step; whoever claims the run next resumes from the checkpoint.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents_app import briefing, scheduler
from agents_app.knowledge import knowledge_snippets
from agents_app.llm import get_provider
from agents_app.llm.base import CallContext, LLMError, LLMRequest, LLMResponse
from agents_app.models import AgentRun, FailureCategory, RunStatus
from agents_app.selectors import policy_for
from agents_app.services.knowledge import knowledge_consulted
from agents_app.toolbox import Toolbox
from agents_app.tools import tools_for
from sessions_app.events import Actor, event_record, event_send_ephemeral, session_lock_row
from sessions_app.models import ApprovalRequest, Feedback, FeedbackStatus

logger = logging.getLogger(__name__)


class Fenced(Exception):
    """The run is no longer this worker's (cancelled, paused, requeued): stop without writing."""


def run_claim(run_id: int, task_id: str) -> int | None:
    """QUEUED → RUNNING by conditional update; only the latest dispatched task may claim.
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
            started_at=Coalesce("started_at", now),
        )
        if not claimed:
            return None
        run = AgentRun.objects.select_related("agent", "session").get(pk=run_id)
        event_record(
            session=run.session,
            type="agent.started",
            actor=Actor.for_agent(run.agent.slug, run.agent.name),
            run=run,
            data={"agent": run.agent.slug, "attempt": run.attempt, "resumed_from_step": run.step},
        )
        return run.attempt


def execute(run_id: int, task_id: str) -> str:
    attempt = run_claim(run_id, task_id)
    if attempt is None:
        return "not-claimed"
    state = "continue"
    with heartbeat(run_id, attempt):
        while state == "continue":
            try:
                state = step(run_id, attempt)
            except Fenced:
                state = "fenced"
    if state in ("finished", "failed"):
        scheduler.advance(AgentRun.objects.values_list("session_id", flat=True).get(pk=run_id))
    logger.info("run %s attempt %s stopped: %s", run_id, attempt, state)
    return state


def _lock_fenced(run_id: int, session_id: int, attempt: int) -> AgentRun:
    session_lock_row(session_id)
    run = (
        AgentRun.objects.select_for_update(of=("self",), no_key=True)
        .select_related("agent", "session__organization")
        .filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING)
        .first()
    )
    if run is None:
        raise Fenced(run_id)
    return run


def step(run_id: int, attempt: int) -> str:
    """One step. Returns "continue", "finished", "parked", "paused", "failed" or "fenced"."""
    run = AgentRun.objects.select_related("agent", "session__organization").get(pk=run_id)
    if run.status != RunStatus.RUNNING or run.attempt != attempt:
        return "fenced"
    if run.control_request == "pause":
        return _pause_at_boundary(run, attempt)
    checkpoint: dict[str, Any] = dict(run.checkpoint or {})
    if checkpoint.get("pending"):
        return _settle_decision(run, attempt, checkpoint)

    policy = policy_for(run.session.organization)
    if run.session.tokens_used >= policy.token_budget_per_session:
        return fail(run, attempt, FailureCategory.BUDGET, f"token budget of {policy.token_budget_per_session} used up")
    if run.step >= settings.HARNESS_AGENT_MAX_STEPS:
        return fail(run, attempt, FailureCategory.VALIDATION, f"did not finish within {run.step} steps")

    messages = list(checkpoint.get("messages") or [_briefing_with_knowledge(run)])
    feedback = _undelivered_feedback(run, checkpoint)
    if feedback:
        messages[-1] = _with_feedback(messages[-1], feedback)

    provider = get_provider()
    if provider.name == "offline" and settings.HARNESS_OFFLINE_STEP_SECONDS:
        time.sleep(settings.HARNESS_OFFLINE_STEP_SECONDS)  # simulated model latency
    request = LLMRequest(
        system=briefing.system_prompt(run),
        messages=messages,
        tools=tools_for(run.agent.tools),
        context=CallContext(
            purpose="agent_step", session_id=run.session_id, run_id=run.pk, offline_hint=briefing.offline_hint(run)
        ),
    )
    try:
        response = provider.complete(request, on_text=_delta_publisher(run))
    except LLMError as exc:
        category = exc.category if exc.category in FailureCategory.values else FailureCategory.LLM_ERROR
        return fail(run, attempt, category, str(exc))
    return _commit_step(run.pk, run.session_id, attempt, checkpoint, messages, response, feedback)


def _briefing_with_knowledge(run: AgentRun) -> dict:
    """The first message, with the organisation knowledge most relevant to this agent (recorded as consulted)."""
    knowledge = knowledge_snippets(run.session, agent=run.agent, limit=3)
    if knowledge:
        with transaction.atomic():
            knowledge_consulted(
                session=run.session, decision=f"briefing of {run.agent.slug}", documents=knowledge, run=run
            )
    return briefing.first_message(run, knowledge=knowledge)


def _commit_step(
    run_id: int,
    session_id: int,
    attempt: int,
    checkpoint: dict,
    messages: list[dict],
    response: LLMResponse,
    feedback: list[Feedback],
) -> str:
    with transaction.atomic():
        run = _lock_fenced(run_id, session_id, attempt)
        policy = policy_for(run.session.organization)
        toolbox = Toolbox(run, checkpoint, policy, step=run.step + 1)
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
        checkpoint["feedback_seen"] = sorted(set(checkpoint.get("feedback_seen", [])) | {f.pk for f in feedback})
        run.checkpoint, run.step, run.heartbeat_at = checkpoint, run.step + 1, timezone.now()
        run.save(
            update_fields=[
                "checkpoint", "step", "heartbeat_at", "status", "progress", "current_activity",
                "summary", "finished_at",
            ]
        )  # fmt: skip
        _mark_delivered(run, feedback)
        if outcome.finished:
            event_record(
                session=run.session,
                type="agent.completed",
                actor=toolbox.actor,
                run=run,
                data={
                    "agent": run.agent.slug,
                    "summary": run.summary,
                    "steps": run.step,
                    "tokens": run.input_tokens + run.output_tokens + run.cache_read_tokens + run.cache_write_tokens,
                },
            )
            return "finished"
    return "parked" if outcome.parked else "continue"


def _settle_decision(run: AgentRun, attempt: int, checkpoint: dict) -> str:
    approval = ApprovalRequest.objects.get(public_id=checkpoint["pending"]["approval"])
    if approval.is_pending():
        return "parked"
    with transaction.atomic():
        run = _lock_fenced(run.pk, run.session_id, attempt)
        toolbox = Toolbox(run, checkpoint, policy_for(run.session.organization), step=run.step + 1)
        settled = toolbox.settle_pending(approval.status, approval.comment)
        messages = list(checkpoint.get("messages", []))
        messages.append({"role": "user", "content": [*checkpoint.pop("pending_results", []), settled]})
        checkpoint["messages"] = messages
        run.checkpoint, run.step, run.heartbeat_at = checkpoint, run.step + 1, timezone.now()
        run.save(update_fields=["checkpoint", "step", "heartbeat_at"])
    return "continue"


def _pause_at_boundary(run: AgentRun, attempt: int) -> str:
    with transaction.atomic():
        run = _lock_fenced(run.pk, run.session_id, attempt)
        run.status, run.control_request = RunStatus.PAUSED, ""
        run.save(update_fields=["status", "control_request"])
        event_record(
            session=run.session,
            type="agent.paused",
            actor=Actor.system(),
            run=run,
            data={"agent": run.agent.slug, "step": run.step},
        )
    return "paused"


def fail(run: AgentRun, attempt: int, category: str, error: str) -> str:
    with transaction.atomic():
        run = _lock_fenced(run.pk, run.session_id, attempt)
        run.status, run.failure_category, run.error = RunStatus.FAILED, category, error[:2000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "failure_category", "error", "finished_at"])
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


_VARIABLE_PARTS = [
    (re.compile(r"\b(dev|run|art|apr|kn)_[0-9a-z]{20}\b"), r"\1_…"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b\d+(\.\d+)?\b", re.IGNORECASE), "N"),
]


def error_signature(error: str) -> str:
    """The error with ids, quoted values and numbers masked, so the same failure groups together."""
    first_line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    for pattern, replacement in _VARIABLE_PARTS:
        first_line = pattern.sub(replacement, first_line)
    return first_line[:160]


# --- feedback ---------------------------------------------------------------------------------------


def _undelivered_feedback(run: AgentRun, checkpoint: dict) -> list[Feedback]:
    """Feedback for this run, or for the whole session, that this run has not seen yet."""
    seen = set(checkpoint.get("feedback_seen", []))
    candidates = Feedback.objects.filter(session_id=run.session_id).select_related("author").order_by("id")
    return [f for f in candidates if f.pk not in seen and f.run_id in (None, run.pk)]


def _with_feedback(message: dict, feedback: list[Feedback]) -> dict:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    blocks += [{"type": "text", "text": f"Feedback from {f.author.get_username()}: {f.text}"} for f in feedback]
    return {**message, "content": blocks}


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


# --- liveness -----------------------------------------------------------------------------------------


def _delta_publisher(run: AgentRun):  # noqa: ANN202
    """Streamed model text goes live only (`agent.delta`), batched to keep the socket calm."""
    session_public_id, run_public_id = run.session.public_id, run.public_id
    actor = Actor.for_agent(run.agent.slug, run.agent.name)
    buffer: list[str] = []
    last = [time.monotonic()]

    def on_text(chunk: str) -> None:
        buffer.append(chunk)
        if time.monotonic() - last[0] >= 0.1 or sum(map(len, buffer)) >= 400:
            event_send_ephemeral(
                session_public_id=session_public_id,
                type="agent.delta",
                actor=actor,
                data={"text": "".join(buffer)},
                run_public_id=run_public_id,
            )
            buffer.clear()
            last[0] = time.monotonic()

    return on_text


@contextmanager
def heartbeat(run_id: int, attempt: int) -> Iterator[None]:
    """Refresh the run's heartbeat while a step (e.g. a long LLM call) is in flight."""
    stop = threading.Event()
    interval = max(0.5, settings.HARNESS_HEARTBEAT_STALE_SECONDS / 4)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                AgentRun.objects.filter(pk=run_id, attempt=attempt, status=RunStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        close_old_connections()
