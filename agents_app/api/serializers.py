from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sessions_app import inputs
from sessions_app.api.serializers import text_field


class AgentOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    when_to_use = serializers.CharField()
    needs = serializers.CharField()
    produces = serializers.CharField()
    capabilities = serializers.JSONField()
    restricted = serializers.BooleanField()
    builtin = serializers.BooleanField(source="is_builtin")
    phase = serializers.CharField()
    default_dependencies = serializers.JSONField()
    artifact_kinds = serializers.JSONField()


class AgentListInput(serializers.Serializer):
    organization = serializers.SlugField()


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class TagsField(serializers.Field):
    """A list of strings, or one comma-separated string (handy in multipart forms)."""

    def to_internal_value(self, data):  # noqa: ANN001, ANN201
        if isinstance(data, str):
            return [t for t in (part.strip() for part in data.split(",")) if t]
        if isinstance(data, list) and all(isinstance(t, str) for t in data):
            return data
        raise serializers.ValidationError("Tags are a list of strings or a comma-separated string.")

    def to_representation(self, value):  # noqa: ANN001, ANN201
        return value


class KnowledgeSearchInput(serializers.Serializer):
    organization = serializers.SlugField()
    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class KnowledgeCreateInput(serializers.Serializer):
    """Write (`title`, `body`), upload (`file`), or save a completed session (`session`)."""

    organization = serializers.SlugField(required=False)
    title = text_field(inputs.KNOWLEDGE_TITLE, required=False, allow_blank=True, default="")
    body = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    tags = TagsField(required=False, default=list)
    file = serializers.FileField(required=False, allow_null=True, default=None)
    session = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        given = [name for name in ("body", "file", "session") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                "Send exactly one of: title and body (Markdown), a .md/.txt file, or a completed session's id."
            )
        if not attrs.get("session") and not attrs.get("organization"):
            raise serializers.ValidationError({"organization": "Say which organisation the document belongs to."})
        return attrs


class KnowledgeCreateJsonInput(KnowledgeCreateInput):
    """A JSON body cannot carry a file: uploads come in multipart/form-data."""

    file = None


class KnowledgeOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    organization = serializers.CharField(source="organization.slug")
    title = serializers.CharField()
    body = serializers.CharField()
    tags = serializers.JSONField()
    source = serializers.CharField()
    source_name = serializers.CharField()
    source_session = serializers.CharField(source="source_session.public_id", allow_null=True, default=None)
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class KnowledgeHitOutput(serializers.Serializer):
    id = serializers.CharField(source="document.public_id")
    title = serializers.CharField(source="document.title")
    tags = serializers.JSONField(source="document.tags")
    source = serializers.CharField(source="document.source")
    created_by = serializers.CharField(source="document.created_by.username")
    updated_at = serializers.DateTimeField(source="document.updated_at")
    rank = serializers.FloatField()
    snippet = serializers.CharField()


class VerificationReportOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "running", "passed", "failed", "not_verified"])
    summary = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    id = serializers.CharField(allow_null=True)
    round = serializers.IntegerField(required=False)
    requested_by = serializers.CharField(allow_null=True, required=False)
    report = serializers.JSONField(
        allow_null=True, help_text="checks (tool, status, counts, exit_code, duration_ms, output_tail, findings)"
    )
