"""`/analytics/`: the same selectors as the API, drawn as SVG bar charts."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics_app.charts import charts_for
from analytics_app.selectors import period_for, team_analytics
from sessions_app.errors import DomainError
from sessions_app.selectors import organization_list

PERIODS = [("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("365d", "a year")]


@login_required
@require_GET
def analytics_page(request: HttpRequest) -> HttpResponse:
    memberships = list(organization_list(user=request.user))
    slug = request.GET.get("organization") or (memberships[0].organization.slug if memberships else "")
    since = request.GET.get("since") or "30d"
    try:
        period = period_for(
            user=request.user, organization=slug, since=since, min_support=request.GET.get("min_support")
        )
    except DomainError as exc:
        return render(request, "development/error.html", {"detail": exc.detail}, status=exc.status_code)
    data = team_analytics(period)
    return render(
        request,
        "analytics/page.html",
        {
            "data": data,
            "charts": charts_for(data),
            "memberships": memberships,
            "organization": slug,
            "since": since,
            "periods": PERIODS,
        },
    )
