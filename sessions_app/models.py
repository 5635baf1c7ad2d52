"""Teams and the development sessions they run.

The session row is the unit of locking: every event of a session takes the next `seq`
from `DevelopmentSession.last_event_seq` under a row lock, so the log has no gaps.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from sessions_app.ids import approval_public_id, message_public_id, session_public_id


class Organization(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    LEAD = "lead", "Lead"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.MEMBER: 1, Role.LEAD: 2, Role.ADMIN: 3}


class Membership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="uniq_membership")]
        ordering = ["organization__slug", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} · {self.organization.slug} · {self.role}"

    def has_at_least(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class TaskType(models.TextChoices):
    FEATURE = "feature", "Feature"
    BUGFIX = "bugfix", "Bug fix"
    REFACTOR = "refactor", "Refactor"
    DOCUMENTATION = "documentation", "Documentation"
    TESTING = "testing", "Testing"
    INFRASTRUCTURE = "infrastructure", "Infrastructure"
    EPIC = "epic", "Epic"
    OTHER = "other", "Other"


class ExecutionStrategy(models.TextChoices):
    SEQUENTIAL = "sequential", "Sequential"
    PARALLEL = "parallel", "Parallel"
    HYBRID = "hybrid", "Hybrid (DAG)"


class SessionStatus(models.TextChoices):
    CREATED = "created", "Created"
    PLANNING = "planning", "Planning"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


SESSION_TRANSITIONS: dict[str, set[str]] = {
    SessionStatus.CREATED: {
        SessionStatus.PLANNING,
        SessionStatus.PAUSED,
        SessionStatus.CANCELLED,
        SessionStatus.FAILED,
    },
    SessionStatus.PLANNING: {
        SessionStatus.RUNNING,
        SessionStatus.PAUSED,
        SessionStatus.CANCELLED,
        SessionStatus.FAILED,
    },
    SessionStatus.RUNNING: {
        SessionStatus.PAUSED,
        SessionStatus.COMPLETED,
        SessionStatus.FAILED,
        SessionStatus.CANCELLED,
    },
    SessionStatus.PAUSED: {SessionStatus.PLANNING, SessionStatus.RUNNING, SessionStatus.CANCELLED},
    SessionStatus.FAILED: {SessionStatus.RUNNING, SessionStatus.CANCELLED},  # retry, or give up
    SessionStatus.COMPLETED: set(),
    SessionStatus.CANCELLED: set(),
}
TERMINAL_SESSION_STATUSES = frozenset({SessionStatus.COMPLETED, SessionStatus.CANCELLED, SessionStatus.FAILED})


class DevelopmentSession(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=session_public_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sessions")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    intent = models.TextField()
    task_type = models.CharField(max_length=20, choices=TaskType.choices, default=TaskType.FEATURE)
    execution_strategy = models.CharField(
        max_length=12, choices=ExecutionStrategy.choices, default=ExecutionStrategy.HYBRID
    )
    requested_agents = models.JSONField(default=list, blank=True, help_text="Explicit agent slugs chosen at creation.")
    visual_context = models.JSONField(default=dict, blank=True)
    plan = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=SessionStatus.choices, default=SessionStatus.CREATED)
    current_phase = models.CharField(max_length=40, blank=True, default="")
    completed_phases = models.JSONField(default=list, blank=True)
    completion_summary = models.TextField(blank=True, default="")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    #: An epic's children that must complete before this child starts.
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")
    #: The planned agents' slugs, sorted and joined by "+": what analytics groups success by.
    agent_combination = models.CharField(max_length=400, blank=True, default="", editable=False)
    last_event_seq = models.PositiveBigIntegerField(default=0, editable=False)
    #: Every model call made for the session (vision, selection, planning, breakdown, steps, repairs);
    #: tokens_used is the sum of the four kinds, and what the token budget is checked against.
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cache_read_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    tokens_used = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    #: True when some of the usage was counted by the offline provider (an estimate, never billed).
    usage_estimated = models.BooleanField(default=False)
    #: The planning task's id (re-sent unchanged when lost) and its liveness while it runs.
    planning_task_id = models.CharField(max_length=64, blank=True, default="", editable=False)
    planning_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    planning_retries = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "task_type", "agent_combination"]),
        ]
        permissions = [
            ("collaborate_developmentsession", "Can collaborate on a shared development session"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id}: {self.intent[:60]}"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        # `last_event_seq` belongs to the event recorder (a row-locked counter); a full save of
        # a stale instance must never move it back.
        if self.pk is not None and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                f.attname for f in self._meta.concrete_fields if not f.primary_key and f.name != "last_event_seq"
            ]
        super().save(*args, **kwargs)

    def can_transition_to(self, status: str) -> bool:
        return status in SESSION_TRANSITIONS[SessionStatus(self.status)]

    def is_terminal(self) -> bool:
        return self.status in TERMINAL_SESSION_STATUSES

    @property
    def is_epic(self) -> bool:
        return self.task_type == TaskType.EPIC

    def clean(self) -> None:
        if self.parent_id and self.parent.organization_id != self.organization_id:
            raise ValidationError({"parent": "An epic's child session must belong to the epic's organisation."})


class SessionUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key guardian table: a session shared with one more user."""

    content_object = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE)


class SessionGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE)


class RequirementSource(models.TextChoices):
    PERSON = "person", "Person"
    AGENT = "agent", "Agent"
    SCREENSHOT = "screenshot", "Screenshot"


class RequirementStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REFINED = "refined", "Refined (superseded)"
    SATISFIED = "satisfied", "Satisfied"
    DROPPED = "dropped", "Dropped"


class Requirement(models.Model):
    session = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE, related_name="requirements")
    text = models.TextField()
    source = models.CharField(max_length=12, choices=RequirementSource.choices, default=RequirementSource.PERSON)
    source_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_agent = models.CharField(max_length=60, blank=True, default="")
    source_screenshot = models.ForeignKey(
        "Screenshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived_requirements"
    )
    refines = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="refinements")
    status = models.CharField(max_length=10, choices=RequirementStatus.choices, default=RequirementStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session_id", "id"]

    def __str__(self) -> str:
        return self.text[:80]


def screenshot_upload_to(instance: Screenshot, filename: str) -> str:
    return f"screenshots/{instance.session.public_id}/{instance.sha256[:16]}.{instance.extension}"


class Screenshot(models.Model):
    session = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE, related_name="screenshots")
    image = models.FileField(upload_to=screenshot_upload_to, max_length=300)
    original_name = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=20)
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    analysis = models.JSONField(default=dict, blank=True)
    analysed_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "id"]

    def __str__(self) -> str:
        return f"{self.original_name or self.sha256[:12]} ({self.width}×{self.height})"

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(self.content_type, "bin")


class ActorKind(models.TextChoices):
    USER = "user", "Person"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class MessageKind(models.TextChoices):
    MESSAGE = "message", "A person's message"
    REPLY = "reply", "An agent's reply"
    QUESTION = "question", "An agent's question"
    ANSWER = "answer", "A person's answer to a question"


class ConversationMessage(models.Model):
    """One entry of the session's thread: a person's message (the intent, feedback, a requirement change),
    an agent's reply or question, or the answer to a question. `run` is the agent that wrote it, or the one
    a person addressed. A question has at most one answer (the first collaborator's)."""

    public_id = models.CharField(max_length=32, unique=True, default=message_public_id, editable=False)
    session = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices, default=MessageKind.MESSAGE)
    author_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_agent = models.CharField(max_length=60, blank=True, default="")
    run = models.ForeignKey("agents_app.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    #: Artifact versions a reply names: [{"artifact": "art_…", "path": …, "version": n}].
    links = models.JSONField(default=list, blank=True)
    #: The feedback a person's message became (what the agent receives at its next step).
    feedback = models.OneToOneField(
        "Feedback", null=True, blank=True, on_delete=models.SET_NULL, related_name="message"
    )
    #: The requirement a requirement change added.
    requirement = models.ForeignKey(
        "Requirement", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reply_to"], condition=models.Q(kind="answer"), name="uniq_answer_per_question"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.kind}: {self.text[:60]}"

    @property
    def author_name(self) -> str:
        if self.author_kind == ActorKind.USER:
            return self.author_user.get_username() if self.author_user_id else "(removed user)"
        return self.author_agent or "Harness"

    def is_question(self) -> bool:
        return self.kind == MessageKind.QUESTION


class SessionEvent(models.Model):
    """One entry of a session's append-only event log; `seq` is per session and gap-free."""

    session = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=60)
    run = models.ForeignKey("agents_app.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_ref = models.CharField(max_length=60, blank=True, default="", help_text="Agent slug or run id.")
    actor_name = models.CharField(max_length=150)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["session_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["session", "seq"], name="uniq_event_seq_per_session")]
        indexes = [models.Index(fields=["session", "type"])]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.type}"


class FeedbackStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"


class Feedback(models.Model):
    session = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE, related_name="feedback")
    run = models.ForeignKey(
        "agents_app.AgentRun", null=True, blank=True, on_delete=models.CASCADE, related_name="feedback"
    )
    #: Null: Harness itself (a checks report sent back to the agent that wrote the failing file).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    status = models.CharField(max_length=10, choices=FeedbackStatus.choices, default=FeedbackStatus.PENDING)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivered_to = models.ForeignKey(
        "agents_app.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "id"]
        indexes = [models.Index(fields=["session", "status"])]

    def __str__(self) -> str:
        return f"feedback {self.pk} ({self.status}): {self.text[:60]}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    #: Closed by the system, undecided: a conflict whose sessions both finished (or a held-back write whose session
    #: ended). The comment says why.
    EXPIRED = "expired", "Expired"
    #: Closed by a lead without a decision ("no decision needed"); the comment says who and why.
    DISMISSED = "dismissed", "Dismissed"


class ApprovalRequest(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=approval_public_id, editable=False)
    session = models.ForeignKey(DevelopmentSession, on_delete=models.CASCADE, related_name="approvals")
    run = models.ForeignKey(
        "agents_app.AgentRun", null=True, blank=True, on_delete=models.CASCADE, related_name="approvals"
    )
    action = models.CharField(max_length=60, help_text="What needs a decision, e.g. write_file.")
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "id"]
        indexes = [models.Index(fields=["session", "status"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.action} ({self.status})"

    def is_pending(self) -> bool:
        return self.status == ApprovalStatus.PENDING


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ANN003
        raise ValidationError("The audit trail is append-only.")

    def delete(self):
        raise ValidationError("The audit trail is append-only.")


class AuditEntry(models.Model):
    """Governance changes (roles, memberships, policies, agent definitions, shares): who, when, before, after."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=60)
    target_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["organization", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target_repr}"

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.pk is not None:
            raise ValidationError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ANN002, ANN003
        raise ValidationError("The audit trail is append-only.")


__all__ = [
    "ActorKind",
    "ApprovalRequest",
    "ApprovalStatus",
    "AuditEntry",
    "ConversationMessage",
    "DevelopmentSession",
    "ExecutionStrategy",
    "Feedback",
    "FeedbackStatus",
    "Membership",
    "MessageKind",
    "Organization",
    "Requirement",
    "RequirementSource",
    "RequirementStatus",
    "Role",
    "Screenshot",
    "SessionEvent",
    "SessionStatus",
    "TaskType",
]
