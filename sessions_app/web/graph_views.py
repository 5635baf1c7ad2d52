"""GET /development/{id}/graph.svg — the session's agent plan, or an epic's child sessions, laid out by dot."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from agents_app.models import AgentRun
from sessions_app.epic_visibility import children_view
from sessions_app.errors import InvalidInput
from sessions_app.selectors import session_get
from sessions_app.web import plan_graph
from sessions_app.web.views import _json_domain_errors


@login_required
@require_GET
@_json_domain_errors
def session_graph_svg(request: HttpRequest, session_id: str) -> HttpResponse:
    """200 with the SVG; 409 before the plan exists; 503 when Graphviz cannot lay it out (the page then
    draws the graph itself). Another organisation's session is a 404, as for the page."""
    session = session_get(user=request.user, public_id=session_id)
    layout = request.GET.get("layout", "LR")
    if layout not in plan_graph.LAYOUTS:
        raise InvalidInput(
            f"'layout' must be one of {', '.join(plan_graph.LAYOUTS)}, not {layout[:20]!r}.",
            errors={"layout": [f"One of {', '.join(plan_graph.LAYOUTS)}."]},
        )
    view = children_view(request.user, session)
    plan = view.plan(session.plan) if view else session.plan  # a guest never sees a hidden child's intent
    runs = {
        slug: (run, status)  # the latest run of each agent
        for slug, run, status in AgentRun.objects.filter(session=session)
        .order_by("id")
        .values_list("agent__slug", "public_id", "status")
    }
    nodes = plan_graph.nodes_for(plan, runs)
    if not nodes:
        return JsonResponse({"detail": "This session has no plan yet.", "errors": {}}, status=409)
    try:
        svg = plan_graph.render_svg(nodes, layout=layout)
    except plan_graph.GraphUnavailable as exc:
        return JsonResponse({"detail": str(exc), "errors": {}, "fallback": "client"}, status=503)
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = "private, no-cache"
    return response
