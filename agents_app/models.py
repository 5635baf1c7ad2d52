"""Who does the work: the agent registry, organisation policies, agent runs and LLM calls."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from sessions_app.ids import knowledge_public_id, run_public_id, verification_public_id


class ArtifactKind(models.TextChoices):
    CODE = "code", "Code"
    DOCS = "docs", "Documentation"
    TESTS = "tests", "Tests"


AGENT_TOOLS = (
    "list_files", "read_file", "write_file", "run_checks", "request_approval", "ask_human", "report_progress",
    "finish",
)  # fmt: skip


class AgentDefinition(models.Model):
    """A specialised agent and its self-description. `organization` null = built into Harness."""

    organization = models.ForeignKey(
        "sessions_app.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="agents"
    )
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    description = models.TextField(help_text="What the agent does.")
    when_to_use = models.TextField(help_text="When to pick it.")
    needs = models.TextField(blank=True, default="", help_text="What it needs as input.")
    produces = models.TextField(blank=True, default="", help_text="What it produces.")
    capabilities = models.JSONField(default=list, blank=True)
    restricted = models.BooleanField(default=False, help_text="Only leads and admins may choose restricted agents.")
    default_dependencies = models.JSONField(default=list, blank=True, help_text="Agent slugs that run before it.")
    artifact_kinds = models.JSONField(default=list, blank=True)
    phase = models.CharField(max_length=40, default="implementation")
    system_prompt = models.TextField()
    tools = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization_id", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(organization__isnull=True), name="uniq_builtin_agent_slug"
            ),
            models.UniqueConstraint(fields=["organization", "slug"], name="uniq_org_agent_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_builtin(self) -> bool:
        return self.organization_id is None

    def clean(self) -> None:
        unknown_tools = set(self.tools or []) - set(AGENT_TOOLS)
        if unknown_tools:
            raise ValidationError({"tools": f"Unknown tools {sorted(unknown_tools)}; allowed: {list(AGENT_TOOLS)}."})
        unknown_kinds = set(self.artifact_kinds or []) - set(ArtifactKind.values)
        if unknown_kinds:
            raise ValidationError(
                {"artifact_kinds": f"Unknown kinds {sorted(unknown_kinds)}; allowed: {ArtifactKind.values}."}
            )
        if self.slug in (self.default_dependencies or []):
            raise ValidationError({"default_dependencies": "An agent cannot depend on itself."})


class ApprovalTrigger(models.TextChoices):
    RESTRICTED_AGENT_WRITE = "restricted_agent_write", "Any write by a restricted agent"
    ANY_WRITE = "any_write", "Any file write"
    PLAN = "plan", "The plan before agents start"
    AGENT_REQUEST = "agent_request", "When an agent asks (always on)"


class ConflictHandling(models.TextChoices):
    FLAG = "flag", "Record it and ask a lead to decide; the writer goes on"
    BLOCK = "block", "Park the later writer until a lead decides"


class VerificationPolicy(models.TextChoices):
    OFF = "off", "Off: nothing is run"
    REPORT = "report", "Report: checks run and show; a failure does not fail the session"
    GATE = "gate", "Gate: a session whose checks fail (after the repair rounds) fails"


class AgentPolicy(models.Model):
    """An organisation's rules for agents; edited by admins in the Django admin."""

    organization = models.OneToOneField(
        "sessions_app.Organization", on_delete=models.CASCADE, related_name="agent_policy"
    )
    disabled_agents = models.ManyToManyField(AgentDefinition, blank=True, related_name="+")
    approval_triggers = models.JSONField(
        default=list, blank=True, help_text=f"Which actions need a lead's approval: {ApprovalTrigger.values}"
    )
    max_parallel_agents = models.PositiveSmallIntegerField(default=4)
    cross_session_conflicts = models.CharField(
        max_length=8,
        choices=ConflictHandling.choices,
        default=ConflictHandling.FLAG,
        help_text="When two running sessions write the same path: flag it for a lead's decision, or also park the "
        "later writer until a lead decides.",
    )
    #: Counted over all four token kinds (cache reads included, as billed), so it is set well above one
    #: agent's context: a five-agent session on a real model reads ~1–2 M tokens, most from the cache.
    token_budget_per_session = models.PositiveBigIntegerField(
        default=3_000_000, help_text="Tokens of every kind (input, output, cache read and write) a session may use."
    )
    verification = models.CharField(
        max_length=8,
        choices=VerificationPolicy.choices,
        default=VerificationPolicy.REPORT,
        help_text="Run the generated code's checks in a sandbox after the agents finish: off, report, or gate.",
    )
    verification_repair_rounds = models.PositiveSmallIntegerField(
        default=2, help_text="How many times failing checks go back to the agents that wrote the files."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "agent policies"

    def __str__(self) -> str:
        return f"Agent policy of {self.organization}"

    def clean(self) -> None:
        unknown = set(self.approval_triggers or []) - set(ApprovalTrigger.values)
        if unknown:
            raise ValidationError(
                {"approval_triggers": f"Unknown triggers {sorted(unknown)}; allowed: {ApprovalTrigger.values}."}
            )
        if not 1 <= self.max_parallel_agents <= 32:
            raise ValidationError({"max_parallel_agents": "Must be between 1 and 32."})

    @classmethod
    def default_triggers(cls) -> list[str]:
        return [ApprovalTrigger.RESTRICTED_AGENT_WRITE]


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending (waiting on dependencies)"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    AWAITING_ANSWER = "awaiting_answer", "Awaiting an answer"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


RUN_TRANSITIONS: dict[str, set[str]] = {
    RunStatus.PENDING: {RunStatus.QUEUED, RunStatus.PAUSED, RunStatus.CANCELLED, RunStatus.FAILED},
    RunStatus.QUEUED: {RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.CANCELLED, RunStatus.QUEUED},
    RunStatus.RUNNING: {
        RunStatus.QUEUED,  # requeued after a lost worker
        RunStatus.PAUSED,
        RunStatus.AWAITING_APPROVAL,
        RunStatus.AWAITING_ANSWER,
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
    },
    RunStatus.PAUSED: {RunStatus.PENDING, RunStatus.QUEUED, RunStatus.CANCELLED},
    RunStatus.AWAITING_APPROVAL: {RunStatus.QUEUED, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.PAUSED},
    RunStatus.AWAITING_ANSWER: {RunStatus.QUEUED, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.PAUSED},
    RunStatus.FAILED: {RunStatus.PENDING, RunStatus.QUEUED},  # retry
    RunStatus.COMPLETED: {RunStatus.QUEUED},  # a repair round after failing checks
    RunStatus.CANCELLED: set(),
}
#: Parked: waiting for a person (a decision or an answer), no worker, never requeued by the reaper.
PARKED_RUN_STATUSES = (RunStatus.AWAITING_APPROVAL, RunStatus.AWAITING_ANSWER)
TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


class FailureCategory(models.TextChoices):
    LLM_ERROR = "llm_error", "LLM error"
    TIMEOUT = "timeout", "Timeout"
    VALIDATION = "validation", "Validation"
    TOOL_ERROR = "tool_error", "Tool error"
    CONFLICT = "conflict", "Conflict"
    CANCELLED = "cancelled", "Cancelled"
    BUDGET = "budget", "Token budget exhausted"
    REJECTED = "rejected", "Approval rejected"
    CONNECTION = "connection", "Model API unreachable"
    RATE_LIMITED = "rate_limited", "Rate limited"
    OVERLOADED = "overloaded", "Model API overloaded"
    SERVER_ERROR = "server_error", "Model API error"
    BAD_RESPONSE = "bad_response", "Unreadable model answer"
    INVALID_REQUEST = "invalid_request", "Request refused by the API"
    AUTH = "auth", "API key refused"
    NOT_FOUND = "not_found", "Unknown model"
    REFUSED = "refused", "The model refused"
    TRUNCATED = "truncated", "Answer cut off at max_tokens"
    INTERNAL = "internal", "Internal error"
    VERIFICATION = "verification", "Checks failed"
    IMAGE = "image", "Unreadable screenshot"


class AgentRun(models.Model):
    """One agent's work in a session: a node of the plan's DAG and a state machine on a row."""

    public_id = models.CharField(max_length=32, unique=True, default=run_public_id, editable=False)
    session = models.ForeignKey("sessions_app.DevelopmentSession", on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey(AgentDefinition, on_delete=models.PROTECT, related_name="runs")
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")
    position = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=40, blank=True, default="")
    reason = models.TextField(blank=True, default="", help_text="Why the planner chose this agent.")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    attempt = models.PositiveIntegerField(default=0, help_text="Fencing token: bumped on every claim.")
    task_id = models.CharField(max_length=64, blank=True, default="")
    #: "pause" when someone paused the run while a worker was mid-step: the worker stops at the boundary.
    control_request = models.CharField(max_length=10, blank=True, default="")
    step = models.PositiveIntegerField(default=0)
    checkpoint = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    current_activity = models.CharField(max_length=200, blank=True, default="")
    failure_category = models.CharField(max_length=20, choices=FailureCategory.choices, blank=True, default="")
    error = models.TextField(blank=True, default="")
    summary = models.TextField(blank=True, default="")
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cache_read_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    retries = models.PositiveSmallIntegerField(default=0, help_text="Retries a person asked for.")
    #: Model faults retried by the engine in a row (reset by a step that succeeds); bounded by HARNESS_LLM_MAX_RETRIES.
    fault_retries = models.PositiveSmallIntegerField(default=0)
    #: When the queued run may next call the model (a retry's backoff); null = now.
    retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session_id", "position", "id"]
        indexes = [
            models.Index(fields=["session", "status"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.agent.slug} ({self.status})"

    def can_transition_to(self, status: str) -> bool:
        return status in RUN_TRANSITIONS[RunStatus(self.status)]

    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


class LLMCall(models.Model):
    """Every request to a language model, with its tokens, latency and cost."""

    session = models.ForeignKey(
        "sessions_app.DevelopmentSession", null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls"
    )
    run = models.ForeignKey(AgentRun, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls")
    purpose = models.CharField(max_length=40, help_text="selection, agent_step, vision, repair, epic_breakdown…")
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=80)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    #: Counted by Harness (offline provider), not billed by anyone.
    estimated = models.BooleanField(default=False)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True, default="")
    #: Counted in its session's and run's usage when it was recorded. False for an agent step's call: the step's
    #: own transaction counts it (and its `AgentStep` names it), or, when the step never committed,
    #: `recording.count_uncounted` does and sets this.
    counted = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["session", "purpose"]),
            models.Index(fields=["run"], condition=models.Q(counted=False), name="llmcall_uncounted"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.provider}/{self.model} ({self.input_tokens}+{self.output_tokens} tokens)"


class StepKind(models.TextChoices):
    BRIEFING = "briefing", "Briefing (what the agent was told first)"
    STEP = "step", "A model answer and its tool calls"
    TRUNCATED = "truncated", "An answer cut off at max_tokens (none of its calls ran)"
    DECISION = "decision", "A lead's decision settled a parked call"


class AgentStep(models.Model):
    """One step of an agent's transcript, written in the step's own transaction (one insert).

    Number 0 is the briefing; every committed step after it has the run's step number. Texts and tool
    results are capped (`agents_app.transcripts`), so a transcript stays bounded; a write's diff is read
    from its `ArtifactVersion`, not stored twice."""

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="steps")
    #: The model call this step answered (its usage was counted in this step's transaction).
    llm_call = models.ForeignKey(LLMCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="steps")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=StepKind.choices, default=StepKind.STEP)
    #: Step 0: the first message as sent, and what it held (intent, requirements, knowledge, inherited files).
    briefing = models.JSONField(null=True, blank=True)
    #: The model's text blocks, in order.
    messages = models.JSONField(default=list, blank=True)
    thinking = models.TextField(blank=True, default="", help_text="The model's thinking summary, if it gave one.")
    #: [{id, name, arguments, result, is_error, refused, not_run, truncated}]
    tool_calls = models.JSONField(default=list, blank=True)
    stop_reason = models.CharField(max_length=20, blank=True, default="")
    model = models.CharField(max_length=80, blank=True, default="")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    #: Counted by Harness (offline provider), not billed.
    estimated = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0, help_text="The model call's duration.")
    retries = models.PositiveSmallIntegerField(default=0, help_text="Model faults retried before this step.")
    #: Feedback handed to the agent at this step: [{id, author, text}]
    feedback = models.JSONField(default=list, blank=True)
    #: Approvals this step asked for or was settled by: [{id, status, tool, comment}]
    approvals = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="uniq_run_step_number")]

    def __str__(self) -> str:
        return f"step {self.number} of run {self.run_id} ({self.kind})"

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


class KnowledgeSource(models.TextChoices):
    MANUAL = "manual", "Written in Harness"
    UPLOAD = "upload", "Uploaded file"
    SESSION = "session", "Saved from a session"


class KnowledgeDocument(models.Model):
    """Organisation knowledge that informs selection and agents — as reference text, never as instructions."""

    public_id = models.CharField(max_length=32, unique=True, default=knowledge_public_id, editable=False)
    organization = models.ForeignKey(
        "sessions_app.Organization", on_delete=models.CASCADE, related_name="knowledge_documents"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown.")
    tags = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=10, choices=KnowledgeSource.choices, default=KnowledgeSource.MANUAL)
    source_name = models.CharField(max_length=255, blank=True, default="", help_text="Uploaded file name.")
    source_session = models.ForeignKey(
        "sessions_app.DevelopmentSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    #: Weighted title/tags (A) and body (B) lexemes, kept current by the knowledge service (PostgreSQL only).
    search_vector = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-updated_at"]),
            GinIndex(fields=["search_vector"], name="knowledge_search_gin"),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if not isinstance(self.tags, list) or not all(isinstance(t, str) and t.strip() for t in self.tags):
            raise ValidationError({"tags": "Tags are a list of non-empty strings."})


class VerificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    NOT_VERIFIED = "not_verified", "Not verified (no sandbox)"


class VerificationRun(models.Model):
    """One run of a session's checks over its files at given versions: a state machine on a row,
    claimed and fenced like an agent run; its report is also a versioned file of the session."""

    public_id = models.CharField(max_length=32, unique=True, default=verification_public_id, editable=False)
    session = models.ForeignKey(
        "sessions_app.DevelopmentSession", on_delete=models.CASCADE, related_name="verifications"
    )
    status = models.CharField(max_length=12, choices=VerificationStatus.choices, default=VerificationStatus.QUEUED)
    #: Repair rounds that came before this run (0: the first check of the session's files).
    round = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: path → version number of the files checked.
    versions = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=300, blank=True, default="")
    #: Its failing findings went back to the agents once; the same check never starts a second round.
    repair_sent = models.BooleanField(default=False)
    attempt = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "-created_at", "-id"]
        indexes = [models.Index(fields=["session", "-created_at"]), models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    def is_finished(self) -> bool:
        return self.status in (VerificationStatus.PASSED, VerificationStatus.FAILED, VerificationStatus.NOT_VERIFIED)
