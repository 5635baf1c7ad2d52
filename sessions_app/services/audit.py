"""The append-only governance audit trail."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from sessions_app.models import AuditEntry, Organization


def model_snapshot(instance: models.Model | None, fields: list[str] | None = None) -> dict[str, Any] | None:
    """A JSON-able picture of an instance's fields (many-to-many as sorted ids) for before/after."""
    if instance is None:
        return None
    snapshot: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or (fields is not None and field.name not in fields):
            continue
        value = getattr(instance, field.attname)
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        snapshot[field.name] = value
    if instance.pk is not None:
        for field in instance._meta.many_to_many:
            if fields is None or field.name in fields:
                snapshot[field.name] = sorted(getattr(instance, field.name).values_list("pk", flat=True))
    return snapshot


def audit_record(
    *,
    actor: Any | None,
    organization: Organization | None,
    action: str,
    target: models.Model,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    """Call inside the transaction of the change it records."""
    return AuditEntry.objects.create(
        organization=organization,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=actor.get_username() if actor is not None and actor.is_authenticated else "system",
        action=action,
        target_type=target._meta.label,
        target_id=str(getattr(target, "public_id", None) or target.pk),
        target_repr=str(target)[:200],
        before=before,
        after=after,
    )
