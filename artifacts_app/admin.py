from django.contrib import admin

from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.admin import session_column
from sessions_app.admin_mixins import OrganizationScopedAdmin, ReadOnlyAdmin, ReadOnlyInline


class VersionInline(ReadOnlyInline):
    model = ArtifactVersion
    fields = ("number", "author_kind", "author_user", "author_run", "created_at")
    readonly_fields = fields
    fk_name = "artifact"


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdmin, OrganizationScopedAdmin):
    org_field = "session__organization"
    list_display = ("path", "session_public_id", "kind", "language", "latest_version_number", "updated_at")
    list_filter = ("kind", "language")
    search_fields = ("path", "session__public_id")
    list_select_related = ("session",)
    inlines = [VersionInline]
    session_public_id = session_column
