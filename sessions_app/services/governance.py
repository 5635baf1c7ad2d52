"""Organisations and memberships; every change is audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from sessions_app.errors import Conflict, InvalidInput
from sessions_app.models import Membership, Organization, Role
from sessions_app.services.audit import audit_record, model_snapshot

User = get_user_model()


@transaction.atomic
def organization_create(*, actor: Any | None, slug: str, name: str) -> Organization:
    organization = Organization.objects.create(slug=slug, name=name)
    audit_record(
        actor=actor,
        organization=organization,
        action="organization.created",
        target=organization,
        before=None,
        after=model_snapshot(organization),
    )
    return organization


@transaction.atomic
def membership_add(*, actor: Any | None, organization: Organization, user: Any, role: str = Role.MEMBER) -> Membership:
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {Role.values}.", errors={"role": ["Unknown role."]})
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise Conflict(f"{user} is already a member of {organization.slug}; change their role instead.")
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    audit_record(
        actor=actor,
        organization=organization,
        action="membership.added",
        target=membership,
        before=None,
        after=model_snapshot(membership),
    )
    return membership


@transaction.atomic
def membership_set_role(*, actor: Any | None, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {Role.values}.", errors={"role": ["Unknown role."]})
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == role:
        return membership
    _refuse_removing_last_admin(membership, new_role=role)
    before = model_snapshot(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        organization=membership.organization,
        action="membership.role_changed",
        target=membership,
        before=before,
        after=model_snapshot(membership),
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: Any | None, membership: Membership) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _refuse_removing_last_admin(membership, new_role=None)
    audit_record(
        actor=actor,
        organization=membership.organization,
        action="membership.removed",
        target=membership,
        before=model_snapshot(membership),
        after=None,
    )
    membership.delete()


def _refuse_removing_last_admin(membership: Membership, *, new_role: str | None) -> None:
    if membership.role != Role.ADMIN or new_role == Role.ADMIN:
        return
    admins = Membership.objects.filter(organization_id=membership.organization_id, role=Role.ADMIN)
    if admins.count() <= 1:
        raise Conflict(
            f"{membership.user} is the last admin of {membership.organization.slug}; make someone else admin first."
        )
