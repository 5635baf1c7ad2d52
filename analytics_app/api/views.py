"""`GET /api/v1/analytics/`: the organisation's history, aggregated in the database."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics_app.api.serializers import AnalyticsOutput, AnalyticsQueryInput
from analytics_app.selectors import period_for, team_analytics
from sessions_app.api.base import parse


class AnalyticsView(APIView):
    @extend_schema(
        parameters=[AnalyticsQueryInput],
        responses={200: AnalyticsOutput},
    )
    def get(self, request: Request) -> Response:
        parse(AnalyticsQueryInput, request.query_params)  # the shape the schema states; the selector does the rest
        period = period_for(
            user=request.user,
            organization=request.query_params.get("organization", ""),
            since=request.query_params.get("since"),
            min_support=request.query_params.get("min_support"),
        )
        return Response(team_analytics(period))
