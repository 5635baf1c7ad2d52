"""A generated organisation history for analytics tests and benchmarks, with a ledger of what it holds.

Rows are written in bulk (10,000 sessions take seconds); the ledger is the same facts counted in
Python, so a test compares the database's aggregates with an independent count, never a constant.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from agents_app.models import AgentDefinition, AgentRun, FailureCategory, LLMCall, RunStatus
from sessions_app.models import (
    ActorKind,
    ApprovalRequest,
    ApprovalStatus,
    DevelopmentSession,
    SessionEvent,
    SessionStatus,
)

COMBOS = [
    ("architect", "backend", "test-engineer"),
    ("backend", "test-engineer"),
    ("frontend", "ux-designer"),
    ("backend", "requirements-analyst", "reviewer"),
]
SUCCESS = {COMBOS[0]: 0.9, COMBOS[1]: 0.6, COMBOS[2]: 0.75, COMBOS[3]: 0.3}
TASK_TYPES = ["feature", "bugfix", "refactor"]
SIGNATURE = "The model did not answer after N attempts"
RESOLUTIONS = ["retry", "feedback", "rejected_approval"]
CALL_OUTPUT_TOKENS = 100
CALL_COST = Decimal("0.001")


@dataclass
class Ledger:
    combos: dict[tuple, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # completed, finished
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: Counter = field(default_factory=Counter)  # (category, agent) → count
    resolved_by: Counter = field(default_factory=Counter)  # resolution → count
    tokens_by_agent: Counter = field(default_factory=Counter)
    sessions_by_person: Counter = field(default_factory=Counter)
    turnarounds: list[float] = field(default_factory=list)


def generate_history(organization, people: list, decider, count: int, *, seed: int = 7) -> Ledger:  # noqa: ANN001, C901
    rng = random.Random(seed)
    agents = {a.slug: a for a in AgentDefinition.objects.filter(organization__isnull=True)}
    now = timezone.now()
    ledger = Ledger()
    plans = []
    for i in range(count):
        combo = COMBOS[i % len(COMBOS)]
        completed = rng.random() < SUCCESS[combo]
        created = now - timedelta(days=rng.uniform(0.5, 20))
        seconds = float(rng.randint(60, 3600))
        plans.append((i, combo, completed, created, seconds, people[i % len(people)]))

    sessions = DevelopmentSession.objects.bulk_create(
        [
            DevelopmentSession(
                organization=organization,
                created_by=person,
                intent=f"generated task {i}",
                task_type=TASK_TYPES[i % len(TASK_TYPES)],
                status=SessionStatus.COMPLETED if completed else SessionStatus.FAILED,
                agent_combination="+".join(sorted(combo)),
            )
            for i, combo, completed, _, _, person in plans
        ],
        batch_size=1000,
    )
    for session, (_, _, _, created, seconds, _) in zip(sessions, plans, strict=True):
        session.created_at, session.finished_at = created, created + timedelta(seconds=seconds)
    DevelopmentSession.objects.bulk_update(sessions, ["created_at", "finished_at"], batch_size=1000)

    runs, events, calls, approvals = [], [], [], []
    for session, (i, combo, completed, created, seconds, person) in zip(sessions, plans, strict=True):
        ledger.combos[combo][1] += 1
        ledger.combos[combo][0] += completed
        ledger.sessions_by_person[person.username] += 1
        if completed:
            ledger.durations[session.task_type].append(seconds)
        session_runs = [
            AgentRun(
                session=session,
                agent=agents[slug],
                position=p,
                status=RunStatus.COMPLETED if completed or p else RunStatus.FAILED,
            )
            for p, slug in enumerate(combo)
        ]
        runs.append(session_runs)
        for run in session_runs:
            tokens = 1000 + (i % 7) * 10
            ledger.tokens_by_agent[run.agent.slug] += tokens + CALL_OUTPUT_TOKENS
            calls.append((session, run, tokens))
            # What `record_call` adds to the session for each call, in the same transaction.
            session.input_tokens += tokens
            session.output_tokens += CALL_OUTPUT_TOKENS
            session.tokens_used += tokens + CALL_OUTPUT_TOKENS
            session.cost_usd += CALL_COST
        if i % 4 == 0:
            minutes = (i % 10) + 1
            ledger.turnarounds.append(minutes * 60.0)
            approvals.append((session, created, minutes))
    AgentRun.objects.bulk_create([r for group in runs for r in group], batch_size=2000)

    for session, group, (i, _, completed, created, _, _) in zip(sessions, runs, plans, strict=True):
        first = group[0]
        log: list[SessionEvent] = []

        def event(type_: str, run: AgentRun | None = None, *, log=log, session=session, created=created, **data):  # noqa: ANN001, ANN003, ANN202
            log.append(
                SessionEvent(
                    session=session,
                    seq=len(log) + 1,
                    type=type_,
                    run=run,
                    actor_kind=ActorKind.SYSTEM,
                    actor_name="system",
                    data=data,
                    at=created + timedelta(seconds=len(log) + 1),
                )
            )

        event("session.created")
        if not completed or i % 5 == 0:
            category = FailureCategory.LLM_ERROR if i % 2 else FailureCategory.TOOL_ERROR
            event("agent.failed", first, agent=first.agent.slug, category=category, signature=SIGNATURE)
            ledger.failures[(category, first.agent.slug)] += 1
            if completed:
                resolution = RESOLUTIONS[i % 3]
                ledger.resolved_by[resolution] += 1
                if resolution == "feedback":
                    event("feedback.submitted", first, text="try the smaller model")
                if resolution == "rejected_approval":
                    event("approval.decided", first, decision=ApprovalStatus.REJECTED)
                event("agent.retrying", first, agent=first.agent.slug)
                event("agent.completed", first, agent=first.agent.slug)
            else:
                ledger.resolved_by["unresolved"] += 1
        event(f"session.{'completed' if completed else 'failed'}")
        events += log
        session.last_event_seq = len(log)
    SessionEvent.objects.bulk_create(events, batch_size=5000)
    DevelopmentSession.objects.bulk_update(
        sessions, ["last_event_seq", "input_tokens", "output_tokens", "tokens_used", "cost_usd"], batch_size=1000
    )

    LLMCall.objects.bulk_create(
        [
            LLMCall(
                session=session,
                run=run,
                purpose="agent_step",
                provider="offline",
                model="offline",
                input_tokens=tokens,
                output_tokens=CALL_OUTPUT_TOKENS,
                cost_usd=CALL_COST,
            )
            for session, run, tokens in calls
        ],
        batch_size=5000,
    )
    created_approvals = ApprovalRequest.objects.bulk_create(
        [
            ApprovalRequest(
                session=session,
                action="write_file",
                summary="generated",
                status=ApprovalStatus.APPROVED,
                decided_by=decider,
            )
            for session, _, _ in approvals
        ],
        batch_size=2000,
    )
    for approval, (_, created, minutes) in zip(created_approvals, approvals, strict=True):
        approval.created_at, approval.decided_at = created, created + timedelta(minutes=minutes)
    ApprovalRequest.objects.bulk_update(created_approvals, ["created_at", "decided_at"], batch_size=2000)
    return ledger
