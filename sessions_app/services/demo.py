"""The demo cast: organisation `acme` (member, lead, admin) and `globex` (outsider)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from sessions_app.models import Membership, Organization, Role
from sessions_app.services.governance import membership_add, membership_set_role, organization_create

CAST = [
    ("acme", "Acme Corp", "member", Role.MEMBER),
    ("acme", "Acme Corp", "lead", Role.LEAD),
    ("acme", "Acme Corp", "admin", Role.ADMIN),
    ("globex", "Globex", "outsider", Role.MEMBER),
]


@transaction.atomic
def demo_seed(*, password: str) -> list[tuple[str, str, str]]:
    """Create or reset the cast; safe to run again. Returns (username, organisation, role)."""
    User = get_user_model()
    cast = []
    for slug, name, username, role in CAST:
        organization = Organization.objects.filter(slug=slug).first() or organization_create(
            actor=None, slug=slug, name=name
        )
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@{slug}.example"})
        user.set_password(password)
        user.is_staff = role == Role.ADMIN  # org admins use the Django admin as the governance console
        user.save()
        membership = Membership.objects.filter(organization=organization, user=user).first()
        if membership is None:
            membership_add(actor=None, organization=organization, user=user, role=role)
        elif membership.role != role:
            membership_set_role(actor=None, membership=membership, role=role)
        cast.append((username, slug, role))
    return cast
