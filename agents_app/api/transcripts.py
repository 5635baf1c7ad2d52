"""`GET sessions/{id}/runs/{run}/steps/`: one agent's transcript, a page at a time, in step order."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from agents_app.selectors import run_get
from agents_app.transcript_selectors import agent_step_list, agent_steps_with_diffs
from sessions_app.api.base import SessionScopedView, parse
from sessions_app.api.pagination import DefaultCursorPagination


class StepCursorPagination(DefaultCursorPagination):
    """Oldest step first: a transcript reads from the briefing on; `?cursor=` goes on where a page ended."""

    ordering = "number"


class StepListInput(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, default=None, min_value=0, max_value=2**31 - 1, help_text="Only steps numbered above this."
    )


class BriefingOutput(serializers.Serializer):
    text = serializers.CharField(help_text="The first message as the agent got it (capped).")
    truncated = serializers.BooleanField()
    intent = serializers.CharField()
    requirements = serializers.ListField(child=serializers.CharField())
    knowledge = serializers.ListField(child=serializers.CharField(), help_text="Titles of the knowledge it was given.")
    inherited_files = serializers.ListField(
        child=serializers.CharField(), help_text="An epic child's files from its completed siblings."
    )


class ToolCallOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    arguments = serializers.JSONField(help_text="As the model gave them, each text capped at about 20 KB.")
    result = serializers.CharField(allow_null=True, help_text="What the agent was told; null if the call did not run.")
    is_error = serializers.BooleanField()
    refused = serializers.BooleanField(help_text="The call was not allowed (a path outside the workspace, a tool…).")
    not_run = serializers.BooleanField(help_text="The answer was cut off at max_tokens: none of its calls ran.")
    truncated = serializers.BooleanField(help_text="An argument, the result or the diff was cut at about 20 KB.")
    version = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="write_file only.")
    diff = serializers.CharField(
        required=False, allow_null=True, default=None, help_text="write_file only: the unified diff it wrote."
    )


class StepFeedbackOutput(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField()
    text = serializers.CharField()


class StepApprovalOutput(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField(help_text="requested (this step asked), approved or rejected (settled here).")
    tool = serializers.CharField()
    comment = serializers.CharField(required=False, default="")


class StepUsageOutput(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    tokens = serializers.IntegerField(help_text="The sum of the four token kinds.")
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)
    estimated = serializers.BooleanField(help_text="Counted by the offline provider, not billed.")


class AgentStepOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="0 is the briefing.")
    kind = serializers.CharField(help_text="briefing, step, truncated (cut off at max_tokens) or decision.")
    briefing = BriefingOutput(allow_null=True, help_text="Step 0 only.")
    messages = serializers.ListField(child=serializers.CharField(), help_text="The model's text, block by block.")
    thinking = serializers.CharField(help_text="The model's thinking summary, if it gave one.")
    tool_calls = ToolCallOutput(many=True)
    stop_reason = serializers.CharField()
    model = serializers.CharField()
    usage = StepUsageOutput(source="*")
    duration_ms = serializers.IntegerField()
    retries = serializers.IntegerField(help_text="Model faults retried before this step succeeded.")
    feedback = StepFeedbackOutput(many=True, help_text="Feedback handed to the agent at this step.")
    approvals = StepApprovalOutput(many=True)
    created_at = serializers.DateTimeField()


class RunStepListView(SessionScopedView):
    pagination_class = StepCursorPagination  # the schema shows the list in its {next, previous, results} envelope

    @extend_schema(parameters=[StepListInput], responses=AgentStepOutput(many=True))
    def get(self, request: Request, session_id: str, run_id: str) -> Response:
        run = run_get(session=self.get_session(request, session_id), public_id=run_id)
        filters = parse(StepListInput, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(agent_step_list(run=run, after=filters["after"]), request, view=self)
        steps = agent_steps_with_diffs(run=run, steps=page)
        return paginator.get_paginated_response(AgentStepOutput(steps, many=True).data)
