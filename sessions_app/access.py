"""Who may do what: roles from `Membership`, shares from guardian object permissions.

Every read of sessions goes through `sessions_visible_to` (one place, STYLE #6), and every
action on a session asks `session_access` — HTTP views, websocket consumers and tasks alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from sessions_app.errors import NotAllowed, NotFound
from sessions_app.models import ROLE_RANK, DevelopmentSession, Membership, Organization, Role

VIEW_PERM = "sessions_app.view_developmentsession"
COLLABORATE_PERM = "sessions_app.collaborate_developmentsession"
SHARE_LEVELS = {"view": (VIEW_PERM,), "collaborate": (VIEW_PERM, COLLABORATE_PERM)}

User = AbstractBaseUser | AnonymousUser


def organizations_of(user: User) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user)


def role_in(user: User, organization: Organization | int) -> str | None:
    if not user.is_authenticated:
        return None
    org_id = organization if isinstance(organization, int) else organization.pk
    return Membership.objects.filter(user=user, organization_id=org_id).values_list("role", flat=True).first()


def has_role(role: str | None, at_least: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(at_least)]


def organization_for(user: User, slug: str) -> tuple[Organization, str]:
    """The organisation by slug and the caller's role in it; 404 when the caller is not a member."""
    membership = (
        Membership.objects.select_related("organization").filter(user=user, organization__slug=slug).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise NotFound(f"Organisation {slug!r} not found among yours; GET /api/v1/organizations/ lists them.")
    return membership.organization, membership.role


def require_role(user: User, organization: Organization, at_least: str, *, doing: str) -> str:
    role = role_in(user, organization)
    if role is None:
        raise NotFound("Organisation not found among yours.")
    if not has_role(role, at_least):
        raise NotAllowed(f"Only a {at_least} or above may {doing}; your role in {organization.slug} is {role}.")
    return role


def sessions_visible_to(
    user: User, queryset: QuerySet[DevelopmentSession] | None = None
) -> QuerySet[DevelopmentSession]:
    """Sessions of the caller's organisations plus those shared with them through guardian."""
    queryset = queryset if queryset is not None else DevelopmentSession.objects.all()
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    shared = get_objects_for_user(
        user, [VIEW_PERM], klass=DevelopmentSession, accept_global_perms=False, with_superuser=False
    ).values("pk")
    member_orgs = Membership.objects.filter(user=user).values("organization_id")
    return queryset.filter(Q(organization_id__in=member_orgs) | Q(pk__in=shared))


@dataclass(frozen=True)
class SessionAccess:
    """The caller's rights on one session."""

    role: str | None  # role in the session's organisation, None for a guest
    share: str | None  # "view" / "collaborate" for a guest
    is_owner: bool

    @property
    def can_view(self) -> bool:
        return self.role is not None or self.share is not None

    @property
    def can_collaborate(self) -> bool:
        """Feedback, requirements, presence."""
        return self.role is not None or self.share == "collaborate"

    @property
    def can_control(self) -> bool:
        """Pause, resume, cancel, retry: the owner, or a lead or admin of the organisation."""
        return (self.role is not None and self.is_owner) or has_role(self.role, Role.LEAD)

    @property
    def can_decide(self) -> bool:
        """Approve or reject agent decisions."""
        return has_role(self.role, Role.LEAD)

    @property
    def can_use_restricted_agents(self) -> bool:
        return has_role(self.role, Role.LEAD)

    @property
    def can_override_plan(self) -> bool:
        return has_role(self.role, Role.LEAD)

    @property
    def can_share(self) -> bool:
        return self.can_control

    def as_dict(self) -> dict[str, bool | str | None]:
        return {
            "role": self.role,
            "share": self.share,
            "view": self.can_view,
            "collaborate": self.can_collaborate,
            "control": self.can_control,
            "decide": self.can_decide,
            "override_plan": self.can_override_plan,
            "share_session": self.can_share,
        }


NO_ACCESS = SessionAccess(role=None, share=None, is_owner=False)


def session_access(user: User, session: DevelopmentSession) -> SessionAccess:
    if not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    role = role_in(user, session.organization_id)
    share = None
    if role is None:
        if user.has_perm(COLLABORATE_PERM, session):
            share = "collaborate"
        elif user.has_perm(VIEW_PERM, session):
            share = "view"
    return SessionAccess(role=role, share=share, is_owner=session.created_by_id == user.pk)


def require_session_access(user: User, session: DevelopmentSession, capability: str, *, doing: str) -> SessionAccess:
    """404 when the caller cannot see the session, 403 when they see it but may not do this."""
    access = session_access(user, session)
    if not access.can_view:
        raise NotFound(f"Session {session.public_id} not found.")
    if not getattr(access, f"can_{capability}"):
        raise NotAllowed(_refusal(access, doing))
    return access


def _refusal(access: SessionAccess, doing: str) -> str:
    if access.role is None:
        return f"This session is shared with you to {access.share}; you may not {doing}."
    if access.role == Role.MEMBER:
        return f"Members may {doing} only on sessions they started; ask a lead of the organisation."
    return f"You may not {doing}."
