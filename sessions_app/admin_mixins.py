"""Admin building blocks: read-only views, and changes that go through the audited services."""

from __future__ import annotations

from django.contrib import admin, messages

from sessions_app.errors import DomainError
from sessions_app.models import Membership, Organization, Role


def admin_org_ids(user) -> set[int] | None:  # noqa: ANN001
    """Organisations a staff user administers; None means all (superuser)."""
    if user.is_superuser:
        return None
    return set(Membership.objects.filter(user=user, role=Role.ADMIN).values_list("organization_id", flat=True))


# A filter by organisation that lists only the organisations the changelist itself shows (its queryset is
# already scoped): an organisation's admin never sees another organisation's name in the sidebar.
OWN_ORGANIZATIONS = ("organization", admin.RelatedOnlyFieldListFilter)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible to those who may see it; nobody adds, changes or deletes here."""

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


class OrganizationScopedAdmin(admin.ModelAdmin):
    """Staff who are not superusers see and edit only the organisations they are admins of.
    `org_field` is the lookup from the model to its organisation."""

    org_field = "organization"

    def get_queryset(self, request):  # noqa: ANN001, ANN201
        queryset = super().get_queryset(request)
        org_ids = admin_org_ids(request.user)
        return queryset if org_ids is None else queryset.filter(**{f"{self.org_field}__in": org_ids})

    def has_module_permission(self, request) -> bool:  # noqa: ANN001
        return (
            request.user.is_active
            and request.user.is_staff
            and (request.user.is_superuser or bool(admin_org_ids(request.user)))
        )

    def has_view_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return self.has_module_permission(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # noqa: ANN001, ANN201
        """An organisation admin can only pick their own organisations."""
        if db_field.name == "organization":
            org_ids = admin_org_ids(request.user)
            if org_ids is not None:
                kwargs["queryset"] = Organization.objects.filter(pk__in=org_ids)
                kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ServiceAdminMixin:
    """Saves and deletes call `write(request, obj, form, change)` / `remove(request, obj)` — the same
    services as the rest of Harness, so every admin change is validated and audited. A domain error
    is shown to the admin and nothing is saved."""

    def save_model(self, request, obj, form, change) -> None:  # noqa: ANN001
        try:
            self.write(request, obj, form, change)
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
            request._harness_refused = True

    def save_related(self, request, form, formsets, change) -> None:  # noqa: ANN001
        if not getattr(request, "_harness_refused", False):
            self.write_related(request, form, formsets, change)

    def write_related(self, request, form, formsets, change) -> None:  # noqa: ANN001
        super().save_related(request, form, formsets, change)

    def delete_model(self, request, obj) -> None:  # noqa: ANN001
        try:
            self.remove(request, obj)
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)

    def delete_queryset(self, request, queryset) -> None:  # noqa: ANN001
        for obj in queryset:
            self.delete_model(request, obj)

    def response_add(self, request, obj, post_url_continue=None):  # noqa: ANN001, ANN201
        if getattr(request, "_harness_refused", False):
            return self.response_post_save_add(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):  # noqa: ANN001, ANN201
        if getattr(request, "_harness_refused", False):
            return self.response_post_save_change(request, obj)
        return super().response_change(request, obj)
