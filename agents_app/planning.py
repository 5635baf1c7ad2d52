"""From a created session to a running plan: analyse screenshots, select agents, write the DAG.

The slow parts (vision and selection calls) run outside any transaction; the plan is written in
one transaction under the session lock, only if no plan exists yet — so a duplicate or restarted
planning task does no harm.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents_app import dispatch, epic_breakdown, retry_policy, scheduler, selection, vision
from agents_app.heartbeat import beating
from agents_app.knowledge import combination_history, knowledge_snippets
from agents_app.llm import get_provider
from agents_app.llm.base import LLMError, LLMProvider
from agents_app.models import AgentRun, FailureCategory
from agents_app.selectors import agent_availability
from agents_app.services.knowledge import knowledge_consulted
from sessions_app.access import role_in
from sessions_app.events import Actor, event_record
from sessions_app.models import (
    DevelopmentSession,
    RequirementStatus,
    SessionStatus,
)
from sessions_app.services.sessions import session_finish, session_transition

logger = logging.getLogger(__name__)
MAX_AGENTS = 8


def plan_session(session_id: int, task_id: str | None = None) -> str:
    """The planning task's body: claim planning, plan, and record how it ended — planned, retrying
    after a fault (with a budget), or failed with a category. Never leaves a session in `planning`
    without a live task: the heartbeat says it is alive, the reaper re-sends a lost one."""
    claim = _planning_claim(session_id, task_id)
    if claim != "claimed":
        return claim
    touch = DevelopmentSession.objects.filter(pk=session_id, planning_task_id=task_id or F("planning_task_id"))
    with beating(lambda: touch.update(planning_heartbeat_at=timezone.now()), name=f"planning-{session_id}"):
        session = DevelopmentSession.objects.get(pk=session_id)
        last_chance = session.planning_retries >= retry_policy.attempts_allowed()
        try:
            return _plan(session, fallback_on_fault=last_chance)
        except vision.ScreenshotUnreadable as exc:  # the same file fails the same way every time: no retry
            advice = "start a new session with the screenshot exported again"
            return _planning_failed(session_id, f"{exc}; {advice}", FailureCategory.IMAGE)
        except LLMError as exc:
            if exc.retryable and not last_chance:
                return _planning_retry_later(session_id, str(exc), exc.category, exc.retry_after)
            return _planning_failed(session_id, str(exc), exc.category)
        except Exception as exc:  # noqa: BLE001 - every ending is recorded, a bug or an outage included
            logger.exception("planning session %s failed", session_id)
            if not last_chance:
                return _planning_retry_later(session_id, f"{type(exc).__name__}: {exc}", "internal", None)
            return _planning_failed(session_id, f"{type(exc).__name__}: {exc}", "internal")


def _planning_claim(session_id: int, task_id: str | None) -> str:
    with transaction.atomic():
        session = DevelopmentSession.objects.select_for_update(no_key=True).filter(pk=session_id).first()
        if session is None:
            return "no such session"
        if session.plan:
            transaction.on_commit(lambda: scheduler.advance(session_id))
            return "already planned"
        if task_id and session.planning_task_id and task_id != session.planning_task_id:
            return "superseded by a newer planning task"
        stale_before = timezone.now() - timedelta(seconds=settings.HARNESS_HEARTBEAT_STALE_SECONDS)
        if session.planning_heartbeat_at and session.planning_heartbeat_at > stale_before:
            return "planning is already under way"
        if session.status == SessionStatus.CREATED:
            session_transition(
                session=session, to=SessionStatus.PLANNING, actor=Actor.system(), event_type="session.planning"
            )
        elif session.status != SessionStatus.PLANNING:
            return f"not planning a {session.status} session"
        DevelopmentSession.objects.filter(pk=session_id).update(planning_heartbeat_at=timezone.now())
    return "claimed"


def _plan(session: DevelopmentSession, *, fallback_on_fault: bool) -> str:
    provider = get_provider()
    vision.analyse_screenshots(session, provider, fallback_on_fault=fallback_on_fault)
    session.refresh_from_db()
    if session.is_epic:
        return epic_breakdown.plan_epic(session, provider, fallback_on_fault=fallback_on_fault)
    knowledge = knowledge_snippets(session)
    chosen = choose(session, provider, knowledge=knowledge, fallback_on_fault=fallback_on_fault)
    spec = offline_spec(session) if provider.name == "offline" else None
    return write_plan(session.pk, chosen, knowledge=knowledge, spec=spec)


def offline_spec(session: DevelopmentSession) -> dict:
    """The one project spec every offline agent of the session builds from (entities, fields, routes)."""
    from agents_app.offline_project.spec import spec_for

    requirements = list(
        session.requirements.filter(status=RequirementStatus.ACTIVE).order_by("id").values_list("text", flat=True)
    )
    return spec_for(session.intent, requirements, session.task_type)


def _planning_retry_later(session_id: int, reason: str, category: str, retry_after: float | None) -> str:
    with transaction.atomic():
        session = DevelopmentSession.objects.select_for_update(no_key=True).get(pk=session_id)
        if session.plan or session.status != SessionStatus.PLANNING:
            return f"not retrying: the session is {session.status}"
        delay = retry_policy.backoff_seconds(session.planning_retries, retry_after)
        session.planning_retries += 1
        session.planning_heartbeat_at = None
        session.save(update_fields=["planning_retries", "planning_heartbeat_at", "updated_at"])
        next_at = timezone.now() + timedelta(seconds=delay)
        event_record(
            session=session,
            type="session.planning_retrying",
            actor=Actor.system(),
            data={
                "reason": reason[:500],
                "category": category,
                "attempt": session.planning_retries,
                "max_attempts": retry_policy.attempts_allowed(),
                "delay_seconds": round(delay, 3),
                "next_attempt_at": next_at.isoformat(),
            },
        )
        dispatch.plan_session_on_commit(session_id, session.planning_task_id, countdown=delay)
    return "retrying"


def _planning_failed(session_id: int, error: str, category: str) -> str:
    with transaction.atomic():
        session = DevelopmentSession.objects.select_for_update(no_key=True).get(pk=session_id)
        if session.plan or session.status != SessionStatus.PLANNING:
            return f"not failing: the session is {session.status}"
        DevelopmentSession.objects.filter(pk=session_id).update(planning_heartbeat_at=None)
        session_finish(
            session=session,
            status=SessionStatus.FAILED,
            summary=f"Planning failed ({category}): {error[:1500]}",
            data={"category": category, "error": error[:2000]},
        )
    return "failed"


def choose(
    session: DevelopmentSession,
    provider: LLMProvider,
    *,
    knowledge: list[dict] | None = None,
    fallback_on_fault: bool = True,
) -> selection.Selection:
    role = role_in(session.created_by, session.organization_id)
    availability = agent_availability(organization=session.organization, role=role)
    data = selection.SelectionInput(
        intent=session.intent,
        requirements=list(
            session.requirements.filter(status=RequirementStatus.ACTIVE).order_by("id").values_list("text", flat=True)
        ),
        visual_context=session.visual_context or {},
        task_type=session.task_type,
        strategy=session.execution_strategy,
        candidates=availability.usable,
        refused=availability.refused,
        explicit=list(session.requested_agents),
        chosen_by=session.created_by.get_username(),
        max_agents=min(MAX_AGENTS, max(1, len(availability.usable))),
        knowledge=knowledge if knowledge is not None else knowledge_snippets(session),
        history=combination_history(session),
        session_id=session.pk,
        fallback_on_fault=fallback_on_fault,
    )
    return selection.select_agents(provider, data)


def write_plan(
    session_id: int, chosen: selection.Selection, *, knowledge: list[dict] | None = None, spec: dict | None = None
) -> str:
    edges = selection.shape(chosen)
    rank = {a.slug: i for i, (a, _) in enumerate(chosen.chosen)}
    order = selection.topological_order(edges, rank) or [a.slug for a, _ in chosen.chosen]
    agents = {a.slug: (a, reason) for a, reason in chosen.chosen}
    with transaction.atomic():
        session = DevelopmentSession.objects.select_for_update(no_key=True).filter(pk=session_id).first()
        if session is None:
            return "no such session"
        if session.plan:
            return "already planned"
        if session.status not in (SessionStatus.PLANNING, SessionStatus.PAUSED):
            return f"session became {session.status} while planning"
        if not chosen.chosen:
            reasons = "; ".join(f"{d['slug']}: {d['reason']}" for d in chosen.dropped) or "the registry is empty"
            summary = f"No agent this session may use fits it ({reasons})."
            session_finish(session=session, status=SessionStatus.FAILED, summary=summary)
            return "no agents"
        runs: dict[str, AgentRun] = {}
        for position, slug in enumerate(order):
            agent, reason = agents[slug]
            runs[slug] = AgentRun.objects.create(
                session=session, agent=agent, position=position, phase=agent.phase, reason=reason
            )
        for slug, parents in edges.items():
            runs[slug].depends_on.set([runs[p] for p in parents])
        session.plan = {
            "strategy": chosen.strategy,
            "source": chosen.source,
            "agents": [
                {
                    "slug": slug,
                    "name": agents[slug][0].name,
                    "run": runs[slug].public_id,
                    "reason": agents[slug][1],
                    "phase": agents[slug][0].phase,
                    "restricted": agents[slug][0].restricted,
                    "depends_on": edges.get(slug, []),
                }
                for slug in order
            ],
            "edges": [[parent, slug] for slug in order for parent in edges.get(slug, [])],
            "phases": selection.phases_of([agents[s][0] for s in order]),
            "dropped": chosen.dropped,
            "ranking": chosen.ranking[:12],
            "knowledge": [doc["id"] for doc in knowledge or []],
            **({"spec": spec} if spec else {}),
        }
        session.agent_combination = "+".join(sorted(agents))[:400]
        session.save(update_fields=["plan", "agent_combination", "updated_at"])
        knowledge_consulted(session=session, decision="selection", documents=knowledge or [])
        event_record(session=session, type="session.plan_ready", actor=Actor.system(), data=session.plan)
        if session.status == SessionStatus.PLANNING:
            session_transition(
                session=session, to=SessionStatus.RUNNING, actor=Actor.system(), event_type="session.started"
            )
    scheduler.advance(session_id)
    return "planned"
