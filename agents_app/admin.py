"""Agents in the governance console: the registry, organisation policies, runs and LLM calls."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Q

from agents_app.models import AgentDefinition, AgentPolicy, AgentRun, ApprovalTrigger, LLMCall
from agents_app.services.governance import agent_definition_delete, agent_definition_save, policy_update
from sessions_app.admin import session_column
from sessions_app.admin_mixins import OrganizationScopedAdmin, ReadOnlyAdmin, ServiceAdminMixin, admin_org_ids
from sessions_app.services.audit import model_snapshot


@admin.register(AgentDefinition)
class AgentDefinitionAdmin(ServiceAdminMixin, OrganizationScopedAdmin):
    """Built-in agents (no organisation) are edited by superusers; admins edit their organisation's own."""

    list_display = ("slug", "name", "organization", "phase", "restricted", "enabled")
    list_filter = ("restricted", "enabled", "phase", ("organization", admin.EmptyFieldListFilter))
    search_fields = ("slug", "name", "description")
    list_select_related = ("organization",)

    def get_queryset(self, request):  # noqa: ANN001, ANN201
        queryset = admin.ModelAdmin.get_queryset(self, request)
        org_ids = admin_org_ids(request.user)
        if org_ids is None:
            return queryset
        return queryset.filter(Q(organization__in=org_ids) | Q(organization__isnull=True))

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        if obj is not None and obj.organization_id is None:
            return request.user.is_superuser
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self.has_change_permission(request, obj)

    def write(self, request, obj, form, change) -> None:  # noqa: ANN001
        before = model_snapshot(AgentDefinition.objects.get(pk=obj.pk)) if change else None
        agent_definition_save(actor=request.user, agent=obj, before=before)

    def remove(self, request, obj) -> None:  # noqa: ANN001
        agent_definition_delete(actor=request.user, agent=obj)


class AgentPolicyForm(forms.ModelForm):
    approval_triggers = forms.MultipleChoiceField(
        choices=ApprovalTrigger.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = AgentPolicy
        fields = (
            "organization",
            "disabled_agents",
            "approval_triggers",
            "max_parallel_agents",
            "cross_session_conflicts",
            "token_budget_per_session",
            "verification",
            "verification_repair_rounds",
        )


@admin.register(AgentPolicy)
class AgentPolicyAdmin(ServiceAdminMixin, OrganizationScopedAdmin):
    form = AgentPolicyForm
    list_display = (
        "organization", "max_parallel_agents", "cross_session_conflicts", "token_budget_per_session", "verification",
        "updated_at",
    )  # fmt: skip
    filter_horizontal = ("disabled_agents",)

    def get_readonly_fields(self, request, obj=None):  # noqa: ANN001, ANN201
        return ("organization",) if obj is not None else ()

    def write(self, request, obj, form, change) -> None:  # noqa: ANN001
        """Everything, the many-to-many too, is saved by `policy_update` in one audited transaction."""
        data = form.cleaned_data
        policy = policy_update(
            actor=request.user,
            organization=obj.organization,
            disabled_agents=list(data.get("disabled_agents") or []),
            approval_triggers=list(data.get("approval_triggers") or []),
            max_parallel_agents=data["max_parallel_agents"],
            cross_session_conflicts=data["cross_session_conflicts"],
            token_budget_per_session=data["token_budget_per_session"],
            verification=data["verification"],
            verification_repair_rounds=data["verification_repair_rounds"],
        )
        obj.pk = policy.pk

    def write_related(self, request, form, formsets, change) -> None:  # noqa: ANN001
        """The service already saved the disabled agents."""

    def remove(self, request, obj) -> None:  # noqa: ANN001
        obj.delete()


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdmin, OrganizationScopedAdmin):
    org_field = "session__organization"
    list_display = (
        "public_id", "agent", "session_public_id", "status", "progress", "step", "attempt", "failure_category"
    )  # fmt: skip
    list_filter = (
        "status", "failure_category", ("agent", admin.RelatedOnlyFieldListFilter),
        ("session__organization", admin.RelatedOnlyFieldListFilter), "created_at",
    )  # fmt: skip
    list_select_related = ("agent", "session")
    search_fields = (
        "public_id", "session__public_id", "session__intent", "agent__slug", "session__created_by__username"
    )  # fmt: skip
    date_hierarchy = "created_at"
    exclude = ("checkpoint",)
    session_public_id = session_column


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin, OrganizationScopedAdmin):
    org_field = "session__organization"
    list_display = (
        "created_at",
        "purpose",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cost_usd",
        "latency_ms",
        "ok",
    )
    list_filter = ("provider", "purpose", "ok")
    date_hierarchy = "created_at"
