"""`GET /api/v1/analytics/`: the organisation's history, aggregated in the database."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics_app.api.serializers import AnalyticsOutput
from analytics_app.selectors import period_for, team_analytics


class AnalyticsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("organization", str, required=True, description="Organisation slug."),
            OpenApiParameter("since", str, description="YYYY-MM-DD, ISO-8601 time or days like 30d (default 30d)."),
            OpenApiParameter("min_support", int, description="Fewest finished sessions a combination needs (3)."),
        ],
        responses={200: AnalyticsOutput},
    )
    def get(self, request: Request) -> Response:
        period = period_for(
            user=request.user,
            organization=request.query_params.get("organization", ""),
            since=request.query_params.get("since"),
            min_support=request.query_params.get("min_support"),
        )
        return Response(team_analytics(period))
