from rest_framework import serializers

from sessions_app import inputs
from sessions_app.api.serializers import text_field


class ArtifactOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    path = serializers.CharField()
    kind = serializers.CharField()
    language = serializers.CharField()
    version = serializers.IntegerField(source="latest_version_number")
    updated_at = serializers.DateTimeField()


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    author = serializers.SerializerMethodField()
    parent = serializers.IntegerField(source="parent.number", default=None)
    sha256 = serializers.CharField()
    diff = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_author(self, version) -> dict:  # noqa: ANN001
        if version.author_run_id:
            return {"kind": "agent", "name": version.author_run.agent.slug, "run": version.author_run.public_id}
        return {"kind": "user", "name": version.author_user.username if version.author_user_id else None}


class VersionWithContentOutput(VersionOutput):
    content = serializers.CharField()


class ArtifactDetailOutput(ArtifactOutput):
    session = serializers.CharField(source="session.public_id")
    content = serializers.CharField(source="latest.content", default="")


class ArtifactEditInput(serializers.Serializer):
    content = text_field(inputs.ARTIFACT_CONTENT)
    base_version = serializers.IntegerField(min_value=1)
