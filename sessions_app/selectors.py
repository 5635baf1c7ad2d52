"""Reads. Every session lookup goes through `sessions_visible_to`, so a foreign id is a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery

from sessions_app.access import organizations_of, sessions_visible_to
from sessions_app.epic_visibility import children_view
from sessions_app.errors import InvalidInput, NotFound
from sessions_app.models import (
    ApprovalRequest,
    ConversationMessage,
    DevelopmentSession,
    Membership,
    MessageKind,
    Organization,
    Requirement,
    SessionEvent,
    SessionStatus,
)

EVENT_PAGE_MAX = 1000


def organization_list(*, user: Any) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__slug")


def session_list(
    *,
    user: Any,
    status: str | None = None,
    organization: str | None = None,
    parent: str | None = None,
    search: str | None = None,
    created_by: str | None = None,
) -> QuerySet[DevelopmentSession]:
    queryset = sessions_visible_to(user).select_related("organization", "created_by", "parent")
    if status:
        statuses = [s for s in status.split(",") if s]
        unknown = set(statuses) - set(SessionStatus.values)
        if unknown:
            raise InvalidInput(
                f"Unknown status {sorted(unknown)}; use {SessionStatus.values}.", errors={"status": ["Unknown."]}
            )
        queryset = queryset.filter(status__in=statuses)
    if organization:
        queryset = queryset.filter(organization__slug=organization)
    if parent:
        queryset = queryset.filter(parent__public_id=parent)
    if created_by:
        queryset = queryset.filter(created_by__username=created_by)
    if search:
        queryset = queryset.filter(Q(intent__icontains=search) | Q(public_id=search))
    return queryset.annotate(run_count=Count("runs", distinct=True), **_latest_verification()).order_by(
        "-created_at", "-id"
    )


def _latest_verification() -> dict[str, Subquery]:
    """The status and summary of each session's latest check, as two subqueries (no query per row)."""
    from agents_app.models import VerificationRun

    latest = VerificationRun.objects.filter(session=OuterRef("pk")).order_by("-created_at", "-id")
    return {
        "verification_status": Subquery(latest.values("status")[:1]),
        "verification_summary": Subquery(latest.values("summary")[:1]),
    }


def session_get(*, user: Any, public_id: str) -> DevelopmentSession:
    session = (
        sessions_visible_to(user)
        .select_related("organization", "created_by", "parent")
        .filter(public_id=public_id)
        .first()
    )
    if session is None:
        raise NotFound(f"Session {public_id!r} not found (or not shared with you).")
    return session


def session_detail_get(*, user: Any, public_id: str) -> DevelopmentSession:
    """The session with everything its detail view shows, in a fixed number of queries."""
    from agents_app.models import AgentRun, LLMCall

    session = session_get(user=user, public_id=public_id)
    runs = (
        AgentRun.objects.filter(session=session)
        .select_related("agent")
        .prefetch_related(Prefetch("depends_on", queryset=AgentRun.objects.only("id", "public_id")))
        # A run's usage is an estimate when any of its calls was counted by the offline provider.
        .annotate(usage_estimated=Exists(LLMCall.objects.filter(run=OuterRef("pk"), estimated=True)))
    )
    session.run_list = list(runs)
    session.run_count = len(session.run_list)  # the list's annotation; without it the detail said 0
    session.requirement_list = list(session.requirements.select_related("source_user"))
    session.screenshot_list = list(session.screenshots.all())
    session.artifact_counts = dict(
        session.artifacts.values_list("kind").annotate(n=Count("id")).values_list("kind", "n")
    )
    session.pending_approvals = session.approvals.filter(status="pending").count()
    session.latest_verification = session.verifications.order_by("-created_at", "-id").first()
    # An epic's children as this caller may see them: a guest of the epic sees only those shared with them.
    visible = sessions_visible_to(user, DevelopmentSession.objects.only("id", "public_id"))
    session.child_list = (
        list(
            sessions_visible_to(user, DevelopmentSession.objects.filter(parent=session))
            .prefetch_related(Prefetch("depends_on", queryset=visible))
            .order_by("created_at", "id")
        )
        if session.is_epic
        else []
    )
    parent = sessions_visible_to(user).filter(pk=session.parent_id)
    session.parent_visible = session.parent_id is None or parent.exists()  # a guest of a child only: no epic intent
    view = children_view(user, session)
    session.plan_for_viewer = view.plan(session.plan) if view else session.plan
    session.summary_for_viewer = view.text(session.completion_summary) if view else session.completion_summary
    return session


def event_list(*, session: DevelopmentSession, after: int = 0, limit: int = EVENT_PAGE_MAX) -> list[SessionEvent]:
    if after < 0:
        raise InvalidInput("'after' must be 0 or a positive seq.", errors={"after": ["Must be ≥ 0."]})
    limit = max(1, min(limit, EVENT_PAGE_MAX))
    return list(
        SessionEvent.objects.filter(session=session, seq__gt=after).select_related("run").order_by("seq")[:limit]
    )


#: Event types the page's activity feed shows besides every `agent.*` and `session.*` but `agent.progress`
#: (static/harness/session.js, DESCRIBE and feed()).
FEED_TYPES = (
    "screenshot.analysed",
    "requirement.added",
    "requirement.updated",
    "artifact.created",
    "artifact.updated",
    "artifact.conflict",
    "feedback.submitted",
    "feedback.delivered",
    "approval.requested",
    "approval.decided",
    "conflict.detected",
    "epic.breakdown_ready",
    "epic.child_status",
    "knowledge.consulted",
    "verification.queued",
    "verification.started",
    "verification.completed",
)
FEED_LIMIT = 100


def event_feed(*, session: DevelopmentSession, limit: int = FEED_LIMIT) -> list[SessionEvent]:
    """The latest events the activity feed shows, oldest first, up to the session's `last_event_seq` as read:
    one `seq DESC LIMIT` query, whatever the length of the log (the page goes live after that seq)."""
    shown = Q(type__in=FEED_TYPES) | (
        (Q(type__startswith="agent.") | Q(type__startswith="session.")) & ~Q(type="agent.progress")
    )
    latest = (
        SessionEvent.objects.filter(shown, session=session, seq__lte=session.last_event_seq)
        .select_related("run")
        .order_by("-seq")[:limit]
    )
    return list(reversed(latest))


def session_share_list(*, session: DevelopmentSession) -> dict[str, str]:
    """Who the session is shared with, and at which level (`view` or `collaborate`): one query."""
    from sessions_app.models import SessionUserObjectPermission

    shares: dict[str, str] = {}
    for username, codename in SessionUserObjectPermission.objects.filter(content_object=session).values_list(
        "user__username", "permission__codename"
    ):
        if codename.startswith("collaborate"):
            shares[username] = "collaborate"
        elif codename.startswith("view"):
            shares.setdefault(username, "view")
    return shares


def approval_list(*, session: DevelopmentSession, status: str | None = None) -> QuerySet[ApprovalRequest]:
    queryset = ApprovalRequest.objects.filter(session=session).select_related("run__agent", "decided_by", "session")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("id")


def approval_get(*, user: Any, public_id: str) -> ApprovalRequest:
    approval = (
        ApprovalRequest.objects.filter(public_id=public_id, session__in=sessions_visible_to(user))
        .select_related("session__organization", "run__agent")
        .first()
    )
    if approval is None:
        raise NotFound(f"Approval {public_id!r} not found.")
    return approval


def requirement_get(*, session: DevelopmentSession, requirement_id: int) -> Requirement:
    requirement = Requirement.objects.filter(session=session, pk=requirement_id).first()
    if requirement is None:
        raise NotFound(f"Requirement {requirement_id} is not part of session {session.public_id}.")
    return requirement


def organization_get_for_member(*, user: Any, slug: str) -> Organization:
    organization = organizations_of(user).filter(slug=slug).first()
    if organization is None:
        raise NotFound(f"Organisation {slug!r} not found among yours.")
    return organization


def conversation_list(*, session: DevelopmentSession) -> QuerySet[ConversationMessage]:
    """The session's thread, oldest first; each question carries its answer (`answers`: none or one)."""
    answers = ConversationMessage.objects.filter(kind=MessageKind.ANSWER).select_related("author_user")
    return (
        ConversationMessage.objects.filter(session=session)
        .select_related("author_user", "run__agent", "reply_to", "requirement")
        .prefetch_related(Prefetch("replies", queryset=answers, to_attr="answers"))
        .order_by("id")
    )


def message_get(*, session: DevelopmentSession, public_id: str) -> ConversationMessage:
    message = (
        ConversationMessage.objects.filter(session=session, public_id=public_id)
        .select_related("run__agent", "session")
        .first()
    )
    if message is None:
        raise NotFound(f"Message {public_id!r} is not part of session {session.public_id}.")
    return message
