"""The governance console: organisations, roles, sessions (read-mostly), approvals, the audit trail."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from sessions_app.admin_mixins import (
    OWN_ORGANIZATIONS,
    OrganizationScopedAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ServiceAdminMixin,
)
from sessions_app.models import (
    ApprovalRequest,
    AuditEntry,
    DevelopmentSession,
    Membership,
    Organization,
    Requirement,
    SessionEvent,
)
from sessions_app.services.governance import (
    membership_add,
    membership_remove,
    membership_set_role,
    organization_create,
)


def pretty_json(value) -> str:  # noqa: ANN001
    return format_html('<pre class="harness-json">{}</pre>', json.dumps(value, indent=2))  # styled in admin.css (CSP)


@admin.display(description="session", ordering="session__public_id")
def session_column(self, obj) -> str:  # noqa: ANN001
    """A run's, approval's or artifact's session by its id: its intent, cut short by the session's str(), would
    read as a clipped column (the sessions changelist shows intents whole)."""
    return obj.session.public_id


# The changelists need the width (admin.css wraps long values instead of clipping them); the index page and the
# breadcrumbs already lead everywhere the sidebar did.
admin.site.enable_nav_sidebar = False
admin.site.site_header = admin.site.site_title = "Harness governance"
admin.site.index_title = "Governance"


@admin.register(Organization)
class OrganizationAdmin(ServiceAdminMixin, OrganizationScopedAdmin):
    org_field = "pk"
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def write(self, request, obj, form, change) -> None:  # noqa: ANN001
        if change:
            obj.save(update_fields=["name"])
        else:
            created = organization_create(actor=request.user, slug=obj.slug, name=obj.name)
            obj.pk = created.pk


@admin.register(Membership)
class MembershipAdmin(ServiceAdminMixin, OrganizationScopedAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", OWN_ORGANIZATIONS)
    search_fields = ("user__username", "organization__slug")
    list_select_related = ("user", "organization")
    raw_id_fields = ("user",)

    def get_readonly_fields(self, request, obj=None):  # noqa: ANN001, ANN201
        return ("organization", "user") if obj is not None else ()

    def write(self, request, obj, form, change) -> None:  # noqa: ANN001
        if change:
            membership_set_role(actor=request.user, membership=obj, role=form.cleaned_data["role"])
        else:
            created = membership_add(actor=request.user, organization=obj.organization, user=obj.user, role=obj.role)
            obj.pk = created.pk

    def remove(self, request, obj) -> None:  # noqa: ANN001
        membership_remove(actor=request.user, membership=obj)


class EventInline(ReadOnlyInline):
    model = SessionEvent
    fields = ("seq", "type", "actor_name", "at", "data")
    readonly_fields = fields
    ordering = ("-seq",)
    max_num = 0
    show_change_link = False


class RequirementInline(ReadOnlyInline):
    model = Requirement
    fields = ("text", "source", "status", "created_at")
    readonly_fields = fields
    fk_name = "session"


@admin.register(DevelopmentSession)
class DevelopmentSessionAdmin(OrganizationScopedAdmin):
    """Read-mostly: the engine and the people in the session change it; here it is looked at."""

    list_display = ("public_id", "intent_short", "organization", "created_by", "status", "current_phase", "created_at")
    list_filter = ("status", "task_type", OWN_ORGANIZATIONS, "created_at")
    search_fields = ("public_id", "intent", "created_by__username")
    list_select_related = ("organization", "created_by")
    date_hierarchy = "created_at"
    inlines = [RequirementInline, EventInline]
    exclude = ("plan", "visual_context")
    readonly_fields = (
        "public_id", "organization", "created_by", "intent", "task_type", "execution_strategy", "requested_agents",
        "status", "current_phase", "completed_phases", "completion_summary", "parent", "tokens_used", "cost_usd",
        "created_at", "started_at", "finished_at", "plan_json", "visual_context_json",
    )  # fmt: skip

    @admin.display(description="intent")
    def intent_short(self, obj) -> str:  # noqa: ANN001
        """Whole words up to 200 characters, wrapped by admin.css; a longer intent says so."""
        return obj.intent if len(obj.intent) <= 200 else obj.intent[:199].rsplit(" ", 1)[0] + " …"

    @admin.display(description="plan")
    def plan_json(self, obj):  # noqa: ANN001, ANN201
        return pretty_json(obj.plan)

    @admin.display(description="visual context")
    def visual_context_json(self, obj):  # noqa: ANN001, ANN201
        return pretty_json(obj.visual_context)

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return request.user.is_superuser


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin, OrganizationScopedAdmin):
    org_field = "session__organization"
    list_display = ("public_id", "session_public_id", "action", "status", "decided_by", "created_at")
    list_filter = ("status", "action", ("session__organization", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("session", "decided_by")
    search_fields = ("public_id", "session__public_id", "session__intent", "summary", "decided_by__username")
    date_hierarchy = "created_at"
    session_public_id = session_column


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin, OrganizationScopedAdmin):
    """Append-only: nobody adds, changes or deletes entries, not even superusers."""

    list_display = ("at", "actor_name", "action", "target_type", "target_repr", "organization")
    list_filter = ("action", OWN_ORGANIZATIONS, "target_type", "at")
    search_fields = ("actor_name", "action", "target_repr", "target_id")
    list_select_related = ("organization",)
    date_hierarchy = "at"
    fields = (
        "at",
        "actor_name",
        "organization",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "before_json",
        "after_json",
    )
    readonly_fields = fields

    @admin.display(description="before")
    def before_json(self, obj):  # noqa: ANN001, ANN201
        return pretty_json(obj.before)

    @admin.display(description="after")
    def after_json(self, obj):  # noqa: ANN001, ANN201
        return pretty_json(obj.after)

    def get_actions(self, request):  # noqa: ANN001, ANN201
        return {}
