"""What an organisation's history teaches, computed in the database.

Every figure is one aggregate query over sessions, runs, events, approvals or LLM calls, so the
number of queries is the same for ten sessions or ten thousand. Only the median on SQLite (the
embedded default, which has no PERCENTILE_CONT) reads one column of durations into Python.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from agents_app.models import LLMCall
from analytics_app.expressions import Median, SecondsBetween
from sessions_app.access import has_role, organization_for
from sessions_app.errors import InvalidInput
from sessions_app.models import (
    ApprovalRequest,
    ApprovalStatus,
    DevelopmentSession,
    Organization,
    Role,
    SessionEvent,
    SessionStatus,
)

DEFAULT_PERIOD_DAYS = 30
DEFAULT_MIN_SUPPORT = 3
TOP = 15
MICRODOLLAR = Decimal("0.000001")
_RELATIVE = re.compile(r"^(\d{1,4})d$")


@dataclass(frozen=True)
class Period:
    organization: Organization
    since: datetime
    until: datetime
    min_support: int
    sees_everyone: bool  # leads and admins see every person's figures; members their own
    username: str


def period_for(*, user: Any, organization: str, since: str | None, min_support: str | None) -> Period:
    """Check the caller's membership and the parameters; every mistake is a 400 that says what to send."""
    if not organization:
        raise InvalidInput(
            "Say which organisation: ?organization=<slug> (GET /api/v1/organizations/ lists yours).",
            errors={"organization": ["Required."]},
        )
    org, role = organization_for(user, organization)
    now = timezone.now()
    return Period(
        organization=org,
        since=_parse_since(since, now),
        until=now,
        min_support=_parse_support(min_support),
        sees_everyone=has_role(role, Role.LEAD),
        username=user.get_username(),
    )


def _parse_since(value: str | None, now: datetime) -> datetime:
    if not value:
        return now - timedelta(days=DEFAULT_PERIOD_DAYS)
    value = value.strip()
    if match := _RELATIVE.match(value):
        return now - timedelta(days=int(match.group(1)))
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError:  # well formed but not in the calendar (2023-02-30, month 46): not a date, not a 500
        moment = None
    if moment is None:
        raise InvalidInput(
            f"since={value!r} is not a date; use YYYY-MM-DD, an ISO-8601 time or a number of days like 30d.",
            errors={"since": ["Not a date."]},
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    if moment > now:
        raise InvalidInput("since is in the future; choose a start before now.", errors={"since": ["In the future."]})
    return moment


def _parse_support(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_MIN_SUPPORT
    if not str(value).isdigit() or not 1 <= int(value) <= 10_000:
        raise InvalidInput(
            "min_support is the fewest sessions a combination needs to be listed: a whole number from 1 to 10000.",
            errors={"min_support": ["Not a number from 1 to 10000."]},
        )
    return int(value)


def team_analytics(period: Period) -> dict[str, Any]:
    return {
        "organization": period.organization.slug,
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "min_support": period.min_support,
        "totals": session_totals(period),
        "combinations": agent_combinations(period),
        "completion_time": completion_time_by_task_type(period),
        "failures": failure_patterns(period),
        "productivity": team_productivity(period),
        "cost": tokens_and_cost(period),
        "verification": verification_outcomes(period),
    }


def _sessions(period: Period) -> QuerySet[DevelopmentSession]:
    return DevelopmentSession.objects.filter(
        organization=period.organization, created_at__gte=period.since, created_at__lte=period.until
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _seconds(value: float | None) -> float | None:
    return round(float(value), 1) if value is not None else None


def session_totals(period: Period) -> dict[str, Any]:
    counts = dict(_sessions(period).values_list("status").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED))
    return {
        "sessions": total,
        "by_status": {status: counts.get(status, 0) for status in SessionStatus.values},
        "success_rate": _rate(counts.get(SessionStatus.COMPLETED, 0), finished),
    }


def verification_outcomes(period: Period) -> dict[str, Any]:
    """How the sessions' checks ended (the latest check of each session), in one query."""
    from agents_app.models import VerificationRun, VerificationStatus

    latest = VerificationRun.objects.filter(session=OuterRef("pk")).order_by("-created_at", "-id")
    rows = dict(
        _sessions(period)
        .annotate(check_status=Subquery(latest.values("status")[:1]))
        .exclude(check_status__isnull=True)
        .values_list("check_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    decided = rows.get("passed", 0) + rows.get("failed", 0)
    return {
        "checked_sessions": sum(rows.values()),
        "by_status": {status: rows.get(status, 0) for status in VerificationStatus.values},
        "pass_rate": _rate(rows.get("passed", 0), decided),
    }


def agent_combinations(period: Period) -> list[dict[str, Any]]:
    """Which sets of agents finish their sessions: finished sessions only, at least `min_support` of them."""
    completed = Q(status=SessionStatus.COMPLETED)
    rows = (
        _sessions(period)
        .filter(status__in=(SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED))
        .exclude(agent_combination="")
        .values("agent_combination")
        .annotate(
            sessions=Count("id"),
            completed=Count("id", filter=completed),
            avg_seconds=Avg(SecondsBetween("finished_at", "created_at"), filter=completed),
        )
        .filter(sessions__gte=period.min_support)
        .annotate(rate=Cast("completed", FloatField()) / Cast("sessions", FloatField()))
        .order_by("-rate", "-sessions", "agent_combination")[:TOP]
    )
    return [
        {
            "agents": row["agent_combination"].split("+"),
            "sessions": row["sessions"],
            "completed": row["completed"],
            "success_rate": _rate(row["completed"], row["sessions"]),
            "avg_seconds_to_complete": _seconds(row["avg_seconds"]),
        }
        for row in rows
    ]


def completion_time_by_task_type(period: Period) -> list[dict[str, Any]]:
    duration = SecondsBetween("finished_at", "created_at")
    completed = _sessions(period).filter(status=SessionStatus.COMPLETED, finished_at__isnull=False)
    aggregates: dict[str, Any] = {"sessions": Count("id"), "avg_seconds": Avg(duration)}
    if connection.vendor == "postgresql":
        aggregates["median_seconds"] = Median(duration)
    rows = list(completed.values("task_type").annotate(**aggregates).order_by("task_type"))
    if connection.vendor != "postgresql":
        medians = _medians_in_python(completed, duration)
        for row in rows:
            row["median_seconds"] = medians.get(row["task_type"])
    return [
        {
            "task_type": row["task_type"],
            "sessions": row["sessions"],
            "avg_seconds": _seconds(row["avg_seconds"]),
            "median_seconds": _seconds(row["median_seconds"]),
        }
        for row in rows
    ]


def _medians_in_python(completed: QuerySet[DevelopmentSession], duration: SecondsBetween) -> dict[str, float]:
    by_type: dict[str, list[float]] = {}
    for task_type, seconds in completed.annotate(seconds=duration).values_list("task_type", "seconds"):
        by_type.setdefault(task_type, []).append(float(seconds))
    return {task_type: statistics.median(values) for task_type, values in by_type.items()}


def failure_patterns(period: Period) -> list[dict[str, Any]]:
    """Failures by category, agent and error signature — and what got each one past it.

    A failed run that later completed was resolved: by feedback when someone gave feedback between
    the failure and the completion, by a rejected approval when a lead rejected what it asked in
    that span, otherwise by a plain retry.
    """
    later = SessionEvent.objects.filter(session=OuterRef("session"), seq__gt=OuterRef("seq"))
    completion = later.filter(type="agent.completed", run=OuterRef("run")).order_by("seq").values("seq")[:1]
    failed = (
        SessionEvent.objects.filter(
            Q(type="agent.failed") | Q(type="session.failed", data__category="verification"),
            session__organization=period.organization,
            at__gte=period.since,
            at__lte=period.until,
        )
        .annotate(completed_seq=Subquery(completion))
        .annotate(
            feedback_between=Exists(
                SessionEvent.objects.filter(
                    session=OuterRef("session"),
                    type="feedback.submitted",
                    seq__gt=OuterRef("seq"),
                    seq__lt=OuterRef("completed_seq"),
                )
            ),
            rejection_between=Exists(
                SessionEvent.objects.filter(
                    session=OuterRef("session"),
                    run=OuterRef("run"),
                    type="approval.decided",
                    data__decision=ApprovalStatus.REJECTED,
                    seq__gt=OuterRef("seq"),
                    seq__lt=OuterRef("completed_seq"),
                )
            ),
        )
    )
    # Each annotation is inlined wherever it is used, so every filter names as few as it can: feedback
    # or a rejection "between" the failure and a NULL completion cannot exist, so either implies resolved.
    rows = (
        failed.values(category=KT("data__category"), agent=KT("data__agent"), signature=KT("data__signature"))
        .annotate(
            count=Count("id"),
            resolved=Count("id", filter=Q(completed_seq__isnull=False)),
            by_feedback=Count("id", filter=Q(feedback_between=True)),
            by_rejection=Count("id", filter=Q(feedback_between=False, rejection_between=True)),
        )
        .order_by("-count", "category", "agent")[:TOP]
    )
    return [
        {
            "category": row["category"] or "unknown",
            "agent": row["agent"] or "",
            "signature": row["signature"] or "",
            "count": row["count"],
            "resolved": row["resolved"],
            "unresolved": row["count"] - row["resolved"],
            "resolved_by": {
                "feedback": row["by_feedback"],
                "rejected_approval": row["by_rejection"],
                "retry": row["resolved"] - row["by_feedback"] - row["by_rejection"],
            },
        }
        for row in rows
    ]


def team_productivity(period: Period) -> dict[str, Any]:
    completed = Q(status=SessionStatus.COMPLETED)
    sessions = _sessions(period)
    decisions = ApprovalRequest.objects.filter(
        session__organization=period.organization, created_at__gte=period.since, created_at__lte=period.until
    )
    if not period.sees_everyone:
        sessions = sessions.filter(created_by__username=period.username)
    people = {
        row["created_by__username"]: {
            "username": row["created_by__username"],
            "sessions": row["sessions"],
            "completed": row["completed"],
            "avg_seconds_to_complete": _seconds(row["avg_seconds"]),
            "approvals_decided": 0,
            "avg_approval_turnaround_seconds": None,
        }
        for row in sessions.values("created_by__username")
        .annotate(
            sessions=Count("id"),
            completed=Count("id", filter=completed),
            avg_seconds=Avg(SecondsBetween("finished_at", "created_at"), filter=completed),
        )
        .order_by("-sessions", "created_by__username")
    }
    decided = decisions.filter(decided_at__isnull=False)
    by_decider = decided if period.sees_everyone else decided.filter(decided_by__username=period.username)
    for row in (
        by_decider.values("decided_by__username")
        .annotate(decided=Count("id"), turnaround=Avg(SecondsBetween("decided_at", "created_at")))
        .order_by()
    ):
        person = people.setdefault(
            row["decided_by__username"],
            {
                "username": row["decided_by__username"],
                "sessions": 0,
                "completed": 0,
                "avg_seconds_to_complete": None,
            },
        )
        person["approvals_decided"] = row["decided"]
        person["avg_approval_turnaround_seconds"] = _seconds(row["turnaround"])
    overall = decisions.aggregate(
        decided=Count("id", filter=Q(decided_at__isnull=False)),
        pending=Count("id", filter=Q(status=ApprovalStatus.PENDING)),
        turnaround=Avg(SecondsBetween("decided_at", "created_at"), filter=Q(decided_at__isnull=False)),
    )
    return {
        "people": sorted(people.values(), key=lambda p: (-p["sessions"], p["username"])),
        "approvals": {
            "decided": overall["decided"],
            "pending": overall["pending"],
            "avg_turnaround_seconds": _seconds(overall["turnaround"]),
        },
        "scope": "everyone" if period.sees_everyone else "you",
    }


_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_ZERO_COST = Value(Decimal(0))
_SESSION_SUMS = {
    **{f"{kind}_sum": Coalesce(Sum(kind), 0) for kind in _KINDS},
    "tokens_sum": Coalesce(Sum("tokens_used"), 0),
    "cost_sum": Coalesce(Sum("cost_usd"), _ZERO_COST),
}
_CALL_SUMS = {
    **{f"{kind}_sum": Coalesce(Sum(kind), 0) for kind in _KINDS},
    "tokens_sum": Coalesce(
        Sum(F("input_tokens") + F("output_tokens") + F("cache_read_tokens") + F("cache_write_tokens")), 0
    ),
    "cost_sum": Coalesce(Sum("cost_usd"), _ZERO_COST),
}


def tokens_and_cost(period: Period) -> dict[str, Any]:
    """Totals and per-session figures are the sessions' own counters, so they equal what the session
    page and API show. The breakdown by agent sums the same sessions' LLM calls, which `record_call`
    keeps equal to those counters. `estimated`: some usage was counted by the offline provider."""
    sessions = _sessions(period)
    totals = sessions.aggregate(**_SESSION_SUMS, estimated_sessions=Count("id", filter=Q(usage_estimated=True)))
    by_session = (
        sessions.filter(Q(tokens_used__gt=0) | Q(cost_usd__gt=0))
        .order_by("-cost_usd", "-tokens_used", "public_id")
        .values(
            "public_id",
            "intent",
            "usage_estimated",
            **{f"{kind}_sum": F(kind) for kind in _KINDS},
            tokens_sum=F("tokens_used"),
            cost_sum=F("cost_usd"),
        )[:TOP]
    )
    by_agent = (
        LLMCall.objects.filter(
            session__organization=period.organization,
            session__created_at__gte=period.since,
            session__created_at__lte=period.until,
        )
        .annotate(who=Coalesce(F("run__agent__slug"), F("purpose")))
        .values("who")
        .annotate(calls=Count("id"), estimated_calls=Count("id", filter=Q(estimated=True)), **_CALL_SUMS)
        .order_by("-cost_sum", "-tokens_sum", "who")
    )
    estimated = totals["estimated_sessions"] > 0
    return {
        "usage": {**_usage(totals), "estimated": estimated},
        "total_tokens": totals["tokens_sum"],
        "total_cost_usd": _dollars(totals["cost_sum"]),
        "estimated": estimated,
        "by_agent": [
            {"agent": row["who"], "calls": row["calls"], **_usage(row), "estimated": row["estimated_calls"] > 0}
            for row in by_agent
        ],
        "by_session": [
            {
                "session": row["public_id"],
                "intent": row["intent"][:120],
                **_usage(row),
                "estimated": row["usage_estimated"],
            }
            for row in by_session
        ],
    }


def _usage(row: dict[str, Any]) -> dict[str, Any]:
    """The session API's usage shape: the four kinds, their sum, the cost as a decimal string."""
    return {
        **{kind: row[f"{kind}_sum"] for kind in _KINDS},
        "tokens_used": row["tokens_sum"],
        "cost_usd": _dollars(row["cost_sum"]),
    }


def _dollars(value: Decimal | int) -> str:
    """Six places, as the session API's decimal fields render it."""
    return str(Decimal(value).quantize(MICRODOLLAR))
