"""What collaborators do on a session: feedback, requirements, sharing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from sessions_app import inputs
from sessions_app.access import SHARE_LEVELS, require_session_access
from sessions_app.errors import Conflict, InvalidInput, NotFound
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import (
    ActorKind,
    ConversationMessage,
    DevelopmentSession,
    Feedback,
    Membership,
    MessageKind,
    Requirement,
    RequirementSource,
    RequirementStatus,
)
from sessions_app.services.audit import audit_record
from sessions_app.services.conversation import message_record


@transaction.atomic
def feedback_submit(
    *,
    user: Any,
    session: DevelopmentSession,
    text: str,
    run: Any | None = None,
    reply_to: ConversationMessage | None = None,
) -> Feedback:
    """A person's message in the thread, and the feedback the session's agents (or one run) receive at their
    next step: one service for both, so POST feedback/, POST conversation/ and the websocket agree. A reply to an
    agent's message goes to that agent unless another is named (answers to questions: `question_answer`)."""
    require_session_access(user, session, "collaborate", doing="give feedback")
    text = inputs.clean_text(text, inputs.FEEDBACK, field="text")
    if session.is_terminal():
        raise Conflict(f"Session {session.public_id} is {session.status}; feedback would reach no agent.")
    if reply_to is not None and reply_to.session_id != session.pk:
        raise NotFound("That message is not part of this session.")
    if run is None and reply_to is not None and reply_to.author_kind == ActorKind.AGENT:
        run = reply_to.run
    if run is not None and run.session_id != session.pk:
        raise NotFound("That run is not part of this session.")
    feedback = Feedback.objects.create(session=session, run=run, author=user, text=text)
    actor = Actor.for_user(user)
    event_record(
        session=session,
        type="feedback.submitted",
        actor=actor,
        run=run,
        data={"feedback_id": feedback.pk, "text": text, "run": run.public_id if run else None},
    )
    message_record(
        session=session, kind=MessageKind.MESSAGE, text=text, actor=actor, run=run, reply_to=reply_to, feedback=feedback
    )
    return feedback


@transaction.atomic
def requirement_add(
    *, user: Any, session: DevelopmentSession, text: str, refines: Requirement | None = None
) -> Requirement:
    """Add a requirement, or refine an existing one (the old one is kept, marked refined)."""
    require_session_access(user, session, "collaborate", doing="change requirements")
    text = inputs.clean_text(text, inputs.REQUIREMENT, field="text")
    if session.is_terminal():
        raise Conflict(f"Session {session.public_id} is {session.status}; start a new session to add requirements.")
    if refines is not None:
        refines = Requirement.objects.select_for_update().get(pk=refines.pk)
        if refines.session_id != session.pk:
            raise NotFound("That requirement is not part of this session.")
        if refines.status != RequirementStatus.ACTIVE:
            raise Conflict(f"Requirement {refines.pk} is {refines.status}; refine its latest version.")
        refines.status = RequirementStatus.REFINED
        refines.save(update_fields=["status", "updated_at"])
    requirement = Requirement.objects.create(
        session=session, text=text, source=RequirementSource.PERSON, source_user=user, refines=refines
    )
    actor = Actor.for_user(user)
    event_record(
        session=session,
        type="requirement.updated" if refines else "requirement.added",
        actor=actor,
        data={"requirement_id": requirement.pk, "text": text, "refines": refines.pk if refines else None},
    )
    message_record(session=session, kind=MessageKind.MESSAGE, text=text, actor=actor, requirement=requirement)
    return requirement


@transaction.atomic
def session_share(*, user: Any, session: DevelopmentSession, username: str, level: str) -> Any:
    """Share a session with one more user (outside or inside the organisation) to view or collaborate."""
    require_session_access(user, session, "share", doing="share this session")
    if level not in SHARE_LEVELS:
        raise InvalidInput(
            f"Unknown share level {level!r}; use 'view' or 'collaborate'.", errors={"level": ["Invalid."]}
        )
    guest = _shareable_user(user, username)
    if guest is None:  # no such user, or one the sharer cannot know of: the same answer
        raise InvalidInput(
            f"No one called {username!r} can be invited: share with a guest account, or with someone from an "
            "organisation you belong to.",
            errors={"username": ["No one you can share with has this username."]},
        )
    if Membership.objects.filter(user=guest, organization_id=session.organization_id).exists():
        raise Conflict(f"{username} is a member of {session.organization.slug} and sees the session already.")
    session_lock_row(session.pk)  # two identical shares at once: the second sees the first
    before = _share_level(guest, session)
    if before == level:
        return guest  # already shared at this level: nothing changes, nothing to record
    for perm in SHARE_LEVELS["collaborate"]:
        remove_perm(perm, guest, session)
    for perm in SHARE_LEVELS[level]:
        assign_perm(perm, guest, session)
    audit_record(
        actor=user,
        organization=session.organization,
        action="session.shared",
        target=session,
        before={"user": username, "level": before},
        after={"user": username, "level": level},
    )
    event_record(
        session=session, type="session.shared", actor=Actor.for_user(user), data={"user": username, "level": level}
    )
    return guest


@transaction.atomic
def session_unshare(*, user: Any, session: DevelopmentSession, username: str) -> None:
    require_session_access(user, session, "share", doing="change who this session is shared with")
    guest = get_user_model().objects.filter(username=username).first()
    before = _share_level(guest, session) if guest else None
    if guest is None or before is None:
        raise NotFound(f"The session is not shared with {username!r}.")
    for perm in SHARE_LEVELS["collaborate"]:
        remove_perm(perm, guest, session)
    audit_record(
        actor=user,
        organization=session.organization,
        action="session.unshared",
        target=session,
        before={"user": username, "level": before},
        after=None,
    )
    event_record(session=session, type="session.unshared", actor=Actor.for_user(user), data={"user": username})


def _shareable_user(sharer: Any, username: str) -> Any | None:
    """The active user called `username` if the sharer may learn that they exist: an account in no
    organisation (a guest account), or someone who shares an organisation with the sharer. A member of
    other organisations only looks exactly like a username nobody has."""
    guest = get_user_model().objects.filter(username=username, is_active=True).first()
    if guest is None:
        return None
    theirs = set(Membership.objects.filter(user=guest).values_list("organization_id", flat=True))
    if theirs and not theirs & set(Membership.objects.filter(user=sharer).values_list("organization_id", flat=True)):
        return None
    return guest


def _share_level(guest: Any, session: DevelopmentSession) -> str | None:
    from sessions_app.models import SessionUserObjectPermission

    codenames = set(
        SessionUserObjectPermission.objects.filter(user=guest, content_object=session).values_list(
            "permission__codename", flat=True
        )
    )
    if "collaborate_developmentsession" in codenames:
        return "collaborate"
    return "view" if "view_developmentsession" in codenames else None
