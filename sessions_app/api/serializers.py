"""Shapes of the sessions API. Serializers validate and render; they hold no business logic."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sessions_app import inputs
from sessions_app.events import event_payload
from sessions_app.models import ExecutionStrategy, SessionStatus, TaskType


def text_field(rule: inputs.TextRule, **kwargs: Any) -> serializers.CharField:
    """A CharField with the limits of a field rule (`sessions_app.inputs`), so the schema and the 400 quote the
    same numbers as the web form; the service checks the whole rule again, whatever the interface."""
    options: dict[str, Any] = {"max_length": rule.max_length, "trim_whitespace": rule.trim}
    if not rule.required:
        options["allow_blank"] = True
    return serializers.CharField(**{**options, **kwargs})


class UserRefSerializer(serializers.Serializer):
    username = serializers.CharField()


class OrganizationOutput(serializers.Serializer):
    slug = serializers.CharField(source="organization.slug")
    name = serializers.CharField(source="organization.name")
    role = serializers.CharField()


class RequirementOutput(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    source = serializers.CharField()
    source_user = serializers.CharField(source="source_user.username", default=None)
    source_agent = serializers.CharField()
    status = serializers.CharField()
    refines = serializers.IntegerField(source="refines_id", allow_null=True)
    created_at = serializers.DateTimeField()


class ScreenshotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    analysis = serializers.JSONField()


class UsageOutput(serializers.Serializer):
    """What the model calls made for a session (or run) used, as billed: the four token kinds and their
    cost. `estimated`: some of it was counted by the offline provider (characters / 4, never billed)."""

    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    tokens_used = serializers.IntegerField(help_text="The sum of the four token kinds.")
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    estimated = serializers.BooleanField(source="usage_estimated")


class RunUsageOutput(UsageOutput):
    tokens_used = serializers.SerializerMethodField(help_text="The sum of the four token kinds.")
    estimated = serializers.SerializerMethodField()

    def get_tokens_used(self, run) -> int:  # noqa: ANN001
        return run.input_tokens + run.output_tokens + run.cache_read_tokens + run.cache_write_tokens

    def get_estimated(self, run) -> bool:  # noqa: ANN001
        # `session_detail_get` annotates each run; a run read on its own falls back on its session's flag.
        estimated = getattr(run, "usage_estimated", None)
        return bool(run.session.usage_estimated if estimated is None else estimated)


class RunOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    agent = serializers.SerializerMethodField()
    status = serializers.CharField()
    phase = serializers.CharField()
    reason = serializers.CharField()
    progress = serializers.IntegerField()
    step = serializers.IntegerField()
    current_activity = serializers.CharField()
    depends_on = serializers.SerializerMethodField()
    attempt = serializers.IntegerField()
    failure_category = serializers.CharField()
    error = serializers.CharField()
    summary = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    usage = RunUsageOutput(source="*")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_agent(self, run) -> dict:  # noqa: ANN001
        return {"slug": run.agent.slug, "name": run.agent.name, "restricted": run.agent.restricted}

    def get_depends_on(self, run) -> list[str]:  # noqa: ANN001
        return [dep.public_id for dep in run.depends_on.all()]


def web_url_for(request, public_id: str) -> str:  # noqa: ANN001
    path = f"/development/{public_id}/"
    if settings.HARNESS_PUBLIC_URL:
        return settings.HARNESS_PUBLIC_URL.rstrip("/") + path
    return request.build_absolute_uri(path) if request is not None else path


class VerificationBriefOutput(serializers.Serializer):
    """A session's latest checks in a list: status and summary only (annotated by `session_list`)."""

    status = serializers.ChoiceField(choices=["pending", "running", "passed", "failed", "not_verified"])
    summary = serializers.CharField()


class SessionListOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    organization = serializers.CharField(source="organization.slug")
    created_by = serializers.CharField(source="created_by.username")
    intent = serializers.CharField()
    task_type = serializers.CharField()
    execution_strategy = serializers.CharField()
    status = serializers.CharField()
    current_phase = serializers.CharField()
    parent = serializers.CharField(source="parent.public_id", default=None)
    run_count = serializers.IntegerField(default=0)
    tokens_used = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    usage = UsageOutput(source="*")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    web_url = serializers.SerializerMethodField()
    verification = serializers.SerializerMethodField()

    def get_web_url(self, session) -> str:  # noqa: ANN001
        return web_url_for(self.context.get("request"), session.public_id)

    @extend_schema_field(VerificationBriefOutput)
    def get_verification(self, session) -> dict:  # noqa: ANN001
        """From the annotations of `session_list`: never a query per row (no check yet, or queued: pending)."""
        status = getattr(session, "verification_status", None)
        return {
            "status": "pending" if status in (None, "queued") else status,
            "summary": getattr(session, "verification_summary", None) or "",
        }


class ChildSessionOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    intent = serializers.CharField()
    task_type = serializers.CharField()
    status = serializers.CharField()
    current_phase = serializers.CharField()
    depends_on = serializers.SerializerMethodField()
    usage = UsageOutput(source="*")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_depends_on(self, child) -> list[str]:  # noqa: ANN001
        return [d.public_id for d in child.depends_on.all()]


class VerificationSummaryOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "running", "passed", "failed", "not_verified"])
    summary = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    id = serializers.CharField(allow_null=True, help_text="The check's id (ver_…).")
    round = serializers.IntegerField(required=False, help_text="Repair rounds before this check.")


class SessionDetailOutput(SessionListOutput):
    """Of a session read by `session_detail_get` (the plan and summary as the caller may see them)."""

    visual_context = serializers.JSONField()
    plan = serializers.JSONField(source="plan_for_viewer")
    requested_agents = serializers.JSONField()
    completed_phases = serializers.JSONField()
    completion_summary = serializers.CharField(source="summary_for_viewer")
    requirements = RequirementOutput(source="requirement_list", many=True)
    screenshots = ScreenshotOutput(source="screenshot_list", many=True)
    runs = RunOutput(source="run_list", many=True)
    children = ChildSessionOutput(source="child_list", many=True)
    artifacts = serializers.JSONField(source="artifact_counts")
    pending_approvals = serializers.IntegerField()
    last_event_seq = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    permissions = serializers.SerializerMethodField()
    verification = serializers.SerializerMethodField()

    @extend_schema_field(VerificationSummaryOutput)
    def get_verification(self, session) -> dict:  # noqa: ANN001
        from agents_app.selectors import verification_summary

        return verification_summary(getattr(session, "latest_verification", None))

    def get_permissions(self, session) -> dict:  # noqa: ANN001
        access = self.context.get("access")
        return access.as_dict() if access is not None else {}


class SessionCreateInput(serializers.Serializer):
    """multipart/form-data, with screenshots; JSON is the same without them (SessionCreateJsonInput)."""

    organization = serializers.SlugField()
    intent = text_field(inputs.INTENT)
    requirements = serializers.ListField(
        child=text_field(inputs.REQUIREMENT), required=False, default=list, max_length=inputs.MAX_REQUIREMENTS
    )
    screenshots = serializers.ListField(child=serializers.FileField(), required=False, default=list)
    agents = serializers.ListField(child=serializers.SlugField(), required=False, default=list)
    execution_strategy = serializers.ChoiceField(choices=ExecutionStrategy.choices, default=ExecutionStrategy.HYBRID)
    task_type = serializers.ChoiceField(choices=TaskType.choices, default=TaskType.FEATURE)
    parent = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)  # "" or null: none


class SessionCreateJsonInput(SessionCreateInput):
    """A JSON body cannot carry files: screenshots come in multipart/form-data."""

    screenshots = None


STATUS_LIST = "(?:{0})(?:,(?:{0}))*".format("|".join(SessionStatus.values))


class SessionListFilterInput(serializers.Serializer):
    """Each filter, when given, must say something: `?status=` is a 400, not "every status" (leave it out;
    `sessions_app.api.base.parse` refuses empty query values)."""

    status = serializers.RegexField(
        rf"^{STATUS_LIST}$", required=False, help_text=f"One status or several, comma-separated: {SessionStatus.values}"
    )
    organization = serializers.SlugField(required=False)
    parent = serializers.CharField(required=False, trim_whitespace=False, help_text="The epic's id (dev_…).")
    search = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
    created_by = serializers.CharField(required=False, max_length=150, trim_whitespace=False, help_text="A username.")


class EventOutput(serializers.Serializer):
    """The contract's event shape (`sessions_app.events.event_payload`)."""

    seq = serializers.IntegerField(allow_null=True)
    type = serializers.CharField()
    session = serializers.CharField()
    run = serializers.CharField(allow_null=True)
    actor = serializers.JSONField()
    at = serializers.DateTimeField()
    data = serializers.JSONField()

    def to_representation(self, event) -> dict:  # noqa: ANN001
        return event_payload(
            event,
            session_public_id=self.context["session_public_id"],
            run_public_id=event.run.public_id if event.run_id else None,
        )


class EventPageOutput(serializers.Serializer):
    session = serializers.CharField()
    last_seq = serializers.IntegerField()
    events = EventOutput(many=True)


class EventListFilterInput(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, required=False, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=1000)


class FeedbackInput(serializers.Serializer):
    text = text_field(inputs.FEEDBACK)
    run = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)  # "" or null: none


class FeedbackOutput(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    status = serializers.CharField()
    run = serializers.CharField(source="run.public_id", default=None)
    author = serializers.CharField(source="author.username")
    created_at = serializers.DateTimeField()


class RequirementInput(serializers.Serializer):
    text = text_field(inputs.REQUIREMENT)
    refines = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=2**31 - 1)


class ShareInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    level = serializers.ChoiceField(choices=[("view", "view"), ("collaborate", "collaborate")], default="view")


class UnshareInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class ApprovalOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    session = serializers.CharField(source="session.public_id")
    run = serializers.CharField(source="run.public_id", default=None)
    agent = serializers.CharField(source="run.agent.slug", default=None)
    action = serializers.CharField()
    summary = serializers.CharField()
    details = serializers.JSONField()
    status = serializers.CharField()
    decided_by = serializers.CharField(source="decided_by.username", default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()
    conflict = serializers.SerializerMethodField(
        help_text="Cross-session conflicts only: what Approve and Reject do, the other session (linked only if you may "
        "see it) and, per path, both versions and their diff."
    )

    def get_conflict(self, approval) -> dict | None:  # noqa: ANN001
        return self.context.get("conflicts", {}).get(approval.pk)

    def to_representation(self, approval) -> dict:  # noqa: ANN001
        data = super().to_representation(approval)
        if data["conflict"] is not None:  # the other session as this viewer may know it
            data["summary"] = data["conflict"]["summary"]
            data["details"] = {**data["details"], "sessions": data["conflict"]["sessions"]}
            data["details"].pop("other", None)
        return data


class ApprovalDecideInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    comment = text_field(inputs.COMMENT, required=False, default="")


class ApprovalDismissInput(serializers.Serializer):
    approvals = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        max_length=1000,
        help_text="Ids of this session's pending flagged conflict approvals; left out: all of them.",
    )
    comment = text_field(inputs.COMMENT, required=False, default="")


class ApprovalDismissOutput(serializers.Serializer):
    dismissed = ApprovalOutput(many=True, help_text="The approvals now `dismissed` (no decision needed).")


class StatusListInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=SessionStatus.choices, required=False)


class TokenInput(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
