"""What the work produces: files with kinds, each with a chain of versions."""

from __future__ import annotations

import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from agents_app.models import ArtifactKind
from sessions_app.ids import artifact_public_id

MAX_PATH_CHARS = 400
MAX_SEGMENT_BYTES = 255
MAX_PATH_DEPTH = 32
#: Written by the platform only (the checks report); agents and people write elsewhere.
RESERVED_TOP = ".harness"
_WINDOWS_FORBIDDEN = set('<>:"|?*')
_WINDOWS_DEVICES = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)


def artifact_path_problem(path: str) -> str | None:
    """Why `path` cannot be a file in a session workspace, or None when it can.

    A path is relative, `/`-separated, and extracts to the same file everywhere the export zip may be
    unpacked (Linux, macOS, Windows): no control or invisible characters, no empty, `.` or `..`
    segments, no `.git` folder in any spelling a filesystem treats as `.git`, and bounded lengths.
    """
    if not isinstance(path, str) or not path:
        return "the path is empty"
    if len(path) > MAX_PATH_CHARS:
        return f"the path is longer than {MAX_PATH_CHARS} characters"
    for char in path:
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            return f"the path contains the control or invisible character U+{ord(char):04X}"
    if "\\" in path:
        return "the path contains a backslash; separate folders with /"
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return "the path is absolute; give it relative to the workspace, e.g. app/models.py"
    segments = path.split("/")
    if len(segments) > MAX_PATH_DEPTH:
        return f"the path is more than {MAX_PATH_DEPTH} folders deep"
    for segment in segments:
        problem = _segment_problem(segment)
        if problem:
            return problem
    return None


def _segment_problem(segment: str) -> str | None:
    if segment == "":
        return "the path has an empty segment (a leading, trailing or doubled /)"
    if segment in (".", ".."):
        return f"the path has a {segment!r} segment; write the path without it"
    if len(segment.encode()) > MAX_SEGMENT_BYTES:
        return f"a folder or file name is longer than {MAX_SEGMENT_BYTES} bytes"
    if segment != segment.strip() or segment.endswith("."):
        return f"{segment!r} starts or ends with a space or ends with a dot"
    lowered = segment.lower()
    if lowered == ".git" or re.fullmatch(r"git~[0-9]+", lowered):
        return "the path goes into a .git folder, which belongs to version control, not to the workspace"
    forbidden = sorted(_WINDOWS_FORBIDDEN.intersection(segment))
    if forbidden:
        return f"{segment!r} contains {''.join(forbidden)!r}, which some filesystems refuse"
    if _WINDOWS_DEVICES.fullmatch(segment):
        return f"{segment!r} is a reserved device name on Windows"
    return None


def is_reserved_path(path: str) -> bool:
    return path.split("/", 1)[0].lower() == RESERVED_TOP


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

    def clean(self) -> None:
        problem = artifact_path_problem(self.path)
        if problem:
            raise ValidationError({"path": [problem]})


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
