"""The analytics response, described for the OpenAPI schema (the selectors build the data itself)."""

from __future__ import annotations

from rest_framework import serializers

from sessions_app.api.serializers import UsageOutput


class AnalyticsQueryInput(serializers.Serializer):
    """The query's shape; `analytics_app.selectors.period_for` checks membership and the calendar."""

    organization = serializers.SlugField(help_text="Organisation slug.")
    since = serializers.RegexField(
        r"^(\d{1,4}d|\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?)$",
        required=False,
        allow_blank=True,
        help_text="YYYY-MM-DD, an ISO-8601 time or days like 30d; not in the future. Empty or left out: 30d.",
    )
    min_support = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000, help_text="Fewest finished sessions a combination needs (3)."
    )


class AnalyticsUsageOutput(UsageOutput):
    """The same shape as a session's `usage`; `estimated`: some of it was counted by the offline provider."""

    estimated = serializers.BooleanField()


class AgentUsageOutput(AnalyticsUsageOutput):
    agent = serializers.CharField(help_text="The agent's slug, or the call's purpose (vision, selection…).")
    calls = serializers.IntegerField()


class SessionUsageOutput(AnalyticsUsageOutput):
    session = serializers.CharField()
    intent = serializers.CharField()


class AnalyticsCostOutput(serializers.Serializer):
    usage = AnalyticsUsageOutput(help_text="The sessions' own counters, summed: what their pages show.")
    total_tokens = serializers.IntegerField()
    total_cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6)
    estimated = serializers.BooleanField()
    by_agent = AgentUsageOutput(many=True)
    by_session = SessionUsageOutput(many=True, help_text="The costliest sessions, as their own pages show them.")


class AnalyticsVerificationOutput(serializers.Serializer):
    checked_sessions = serializers.IntegerField(help_text="Sessions whose files were checked at least once.")
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="Their latest check's status.")
    pass_rate = serializers.FloatField(allow_null=True, help_text="Passed / (passed + failed); null with none.")


class AnalyticsOutput(serializers.Serializer):
    organization = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    min_support = serializers.IntegerField()
    totals = serializers.JSONField()
    combinations = serializers.JSONField()
    completion_time = serializers.JSONField()
    failures = serializers.JSONField()
    productivity = serializers.JSONField()
    cost = AnalyticsCostOutput()
    verification = AnalyticsVerificationOutput()
