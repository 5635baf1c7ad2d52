from rest_framework import serializers

from artifacts_app.services import diff_line_counts
from sessions_app import inputs
from sessions_app.api.serializers import text_field


class ArtifactOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    path = serializers.CharField()
    kind = serializers.CharField()
    language = serializers.CharField()
    version = serializers.IntegerField(source="latest_version_number")
    updated_at = serializers.DateTimeField()


def version_author(version) -> dict:  # noqa: ANN001
    if version.author_run_id:
        return {"kind": "agent", "name": version.author_run.agent.slug, "run": version.author_run.public_id}
    return {"kind": "user", "name": version.author_user.username if version.author_user_id else None}


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    author = serializers.SerializerMethodField()
    parent = serializers.IntegerField(source="parent.number", default=None)
    sha256 = serializers.CharField()
    diff = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_author(self, version) -> dict:  # noqa: ANN001
        return version_author(version)


class VersionWithContentOutput(VersionOutput):
    content = serializers.CharField()


class VersionListItemOutput(VersionOutput):
    """A version in `GET artifacts/{id}/versions/`: its content only with `?content=1`."""

    parent = serializers.IntegerField(source="parent_number", allow_null=True)
    size = serializers.IntegerField(help_text="The content's size in bytes (UTF-8).")
    content = serializers.CharField(required=False, help_text="Only with `?content=1`.")

    def __init__(self, *args, with_content: bool = True, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        if not with_content:
            self.fields.pop("content")  # a deferred field: reading it would cost a query per version


class VersionListInput(serializers.Serializer):
    content = serializers.BooleanField(
        required=False, default=False, help_text="Include each version's full content (`1` or `true`)."
    )


class ArtifactDetailOutput(ArtifactOutput):
    session = serializers.CharField(source="session.public_id")
    content = serializers.CharField(source="latest.content", default="")


class ArtifactEditInput(serializers.Serializer):
    content = text_field(inputs.ARTIFACT_CONTENT)
    base_version = serializers.IntegerField(min_value=1)


#: A diff longer than this is cut in the Changes view (the version's own endpoint has it whole).
CHANGE_DIFF_CHARS = 200_000


class ChangeOutput(serializers.Serializer):
    """One version as a change: who wrote it, how many lines it added and removed, and its diff."""

    version = serializers.IntegerField(source="number")
    author = serializers.SerializerMethodField()
    added = serializers.SerializerMethodField()
    removed = serializers.SerializerMethodField()
    diff = serializers.SerializerMethodField()
    truncated = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_author(self, version) -> dict:  # noqa: ANN001
        return version_author(version)

    def get_added(self, version) -> int:  # noqa: ANN001
        return diff_line_counts(version.diff)[0]

    def get_removed(self, version) -> int:  # noqa: ANN001
        return diff_line_counts(version.diff)[1]

    def get_diff(self, version) -> str:  # noqa: ANN001
        return version.diff[:CHANGE_DIFF_CHARS]

    def get_truncated(self, version) -> bool:  # noqa: ANN001
        return len(version.diff) > CHANGE_DIFF_CHARS


class ChangedFileOutput(serializers.Serializer):
    artifact = serializers.CharField()
    path = serializers.CharField()
    kind = serializers.CharField()
    language = serializers.CharField()
    version = serializers.IntegerField(help_text="The file's latest version.")
    authors = serializers.ListField(child=serializers.DictField(), help_text="Everyone who wrote it, first first.")
    changes = ChangeOutput(many=True)


class SessionChangesOutput(serializers.Serializer):
    files = ChangedFileOutput(many=True)
    authors = serializers.ListField(child=serializers.DictField(), help_text="Everyone who changed a file.")


class ChangesFilterInput(serializers.Serializer):
    """`?agent=` (a slug) and `?run=` (run_…): ids, never free text (a NUL or a stray character is a 400)."""

    agent = serializers.SlugField(required=False, max_length=60, help_text="only the changes of this agent (slug)")
    run = serializers.RegexField(
        r"^run_[0-9a-z]{1,40}$", required=False, help_text="only the changes of this run (run_…)"
    )
