"""What the work produces: files with kinds, each with a chain of versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agents_app.models import ArtifactKind
from sessions_app.ids import artifact_public_id


class Artifact(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=artifact_public_id, editable=False)
    session = models.ForeignKey("sessions_app.DevelopmentSession", on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=400)
    kind = models.CharField(max_length=8, choices=ArtifactKind.choices, default=ArtifactKind.CODE)
    language = models.CharField(max_length=40, blank=True, default="")
    latest_version_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session_id", "path"]
        constraints = [models.UniqueConstraint(fields=["session", "path"], name="uniq_artifact_path_per_session")]

    def __str__(self) -> str:
        return f"{self.path} v{self.latest_version_number}"


class ArtifactVersion(models.Model):
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    author_kind = models.CharField(max_length=8)  # "agent" or "user"
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_run = models.ForeignKey(
        "agents_app.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="artifact_versions"
    )
    author_step = models.PositiveIntegerField(null=True, blank=True, help_text="The agent step that wrote it.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    diff = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["artifact_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "number"], name="uniq_version_number"),
            # An agent step that is redone after a crash must not write the same version twice.
            models.UniqueConstraint(
                fields=["artifact", "author_run", "author_step"],
                condition=models.Q(author_run__isnull=False, author_step__isnull=False),
                name="uniq_version_per_run_step",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artifact.path} v{self.number}"
