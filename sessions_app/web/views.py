"""Web pages: thin views over the same selectors and services as the API."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from agents_app.selectors import agent_availability
from agents_app.services.conflicts import conflict_views
from agents_app.services.start import development_start
from artifacts_app.selectors import artifact_get, artifact_tree, version_brief_list
from sessions_app import inputs
from sessions_app.access import organization_for, session_access
from sessions_app.api.serializers import ApprovalOutput, SessionDetailOutput
from sessions_app.epic_visibility import children_view
from sessions_app.errors import DomainError, InvalidInput, NotFound
from sessions_app.events import event_payload
from sessions_app.models import ExecutionStrategy, SessionStatus, TaskType
from sessions_app.selectors import (
    approval_list,
    event_feed,
    organization_list,
    session_detail_get,
    session_get,
    session_list,
    session_share_list,
)
from sessions_app.web import highlight
from sessions_app.web.screenshot_findings import screenshot_findings


def _domain_errors(view):  # noqa: ANN001, ANN202
    """A domain error becomes a page with its message and status (404 for what you may not see)."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            return render(request, "development/error.html", {"detail": exc.detail}, status=exc.status_code)

    wrapped.__name__ = view.__name__
    return wrapped


def _json_domain_errors(view):  # noqa: ANN001, ANN202
    """The page's JSON endpoints answer a domain error in the API's error body, not with an HTML page."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            return JsonResponse({"detail": exc.detail, "errors": exc.errors}, status=exc.status_code)

    wrapped.__name__ = view.__name__
    return wrapped


@login_required
@require_GET
def session_list_page(request: HttpRequest) -> HttpResponse:
    filters = {
        "status": request.GET.get("status") or None,
        "organization": request.GET.get("organization") or None,
        "search": (request.GET.get("q") or "").strip() or None,
    }
    try:
        sessions = session_list(user=request.user, **filters)
    except DomainError as exc:
        return render(request, "development/error.html", {"detail": exc.detail}, status=400)
    page = Paginator(sessions, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "development/list.html",
        {
            "page": page,
            "filters": filters,
            "statuses": SessionStatus.choices,
            "memberships": organization_list(user=request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@_domain_errors
def session_new_page(request: HttpRequest) -> HttpResponse:
    """The form and its errors (400, the person's input kept). An organisation the caller is not in is a 404
    with the API's message, never a quiet fallback to one of theirs."""
    memberships = list(organization_list(user=request.user))
    if not memberships:
        return render(request, "development/error.html", {"detail": "You belong to no organisation yet."}, status=403)
    chosen_org = request.POST.get("organization") or request.GET.get("organization") or memberships[0].organization.slug
    organization, role = organization_for(request.user, chosen_org)
    agents = agent_availability(organization=organization, role=role).usable
    context = {
        "memberships": memberships,
        "organization": organization,
        "limits": {"intent": inputs.INTENT.max_length, "requirement": inputs.REQUIREMENT.max_length},
        "agents": agents,
        "strategies": ExecutionStrategy.choices,
        "task_types": TaskType.choices,
        "form": request.POST,
        "requirements": [r for r in request.POST.getlist("requirements") if r.strip()],
        "chosen_agents": request.POST.getlist("agents"),
    }
    if request.method == "POST":
        try:
            session = development_start(
                user=request.user,
                organization=organization.slug,
                intent=request.POST.get("intent", ""),
                requirements=request.POST.getlist("requirements"),
                screenshots=request.FILES.getlist("screenshots"),
                agents=request.POST.getlist("agents"),
                execution_strategy=request.POST.get("execution_strategy") or ExecutionStrategy.HYBRID,
                task_type=request.POST.get("task_type") or TaskType.FEATURE,
            )
        except DomainError as exc:
            context.update(error=exc.detail, errors=exc.errors)
            return render(request, "development/new.html", context, status=exc.status_code)
        return redirect("session-page", session_id=session.public_id)
    return render(request, "development/new.html", context)


@login_required
@require_GET
@_domain_errors
def session_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = session_detail_get(user=request.user, public_id=session_id)
    access = session_access(request.user, session)
    initial = SessionDetailOutput(session, context={"request": request, "access": access}).data
    initial["page"] = _page_state(request, session)
    return render(
        request,
        "development/session.html",
        {
            "session": session,
            "access": access,
            "initial": initial,
            "screenshots": screenshot_findings(session=session),
        },
    )


def _page_state(request: HttpRequest, session) -> dict:  # noqa: ANN001
    """What the page shows of the history, read as of `last_event_seq` in a fixed number of queries: the
    latest feed events, every file of the tree, the pending approvals and the shares. The page then streams
    from that seq, never replaying the whole log (a session of 10,000 events opens as fast as a new one)."""
    view = children_view(request.user, session)  # a guest of an epic: without the children not shared
    feed = [
        event_payload(e, session_public_id=session.public_id, run_public_id=e.run.public_id if e.run_id else None)
        for e in event_feed(session=session)
    ]
    pending = list(approval_list(session=session, status="pending"))
    conflicts = conflict_views(approvals=pending, viewer=request.user)  # as the approvals API words them
    return {
        "after": session.last_event_seq,
        "feed": [view.event(event) for event in feed] if view else feed,
        "files": artifact_tree(session=session),
        "approvals": {
            a["id"]: {"summary": a["summary"], "status": a["status"], "agent": a["agent"] or ""}
            for a in ApprovalOutput(pending, many=True, context={"conflicts": conflicts}).data
        },
        "shares": session_share_list(session=session),
    }


@login_required
@require_GET
@_domain_errors
def session_screenshot(request: HttpRequest, session_id: str, screenshot_id: int) -> FileResponse:
    """An uploaded screenshot, to those who see its session only (MEDIA is not served on its own)."""
    session = session_get(user=request.user, public_id=session_id)
    shot = session.screenshots.filter(pk=screenshot_id).first()
    if shot is None or not shot.image:
        raise NotFound(f"Session {session.public_id} has no screenshot {screenshot_id}.")
    try:
        handle = shot.image.open("rb")
    except FileNotFoundError as exc:
        raise NotFound(f"Screenshot {screenshot_id} of {session.public_id} is missing from storage.") from exc
    response = FileResponse(handle, content_type=shot.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
@_json_domain_errors
def artifact_preview(request: HttpRequest, artifact_id: str) -> JsonResponse:
    """The highlighted content of a version (latest by default) and its diff, for the code panel."""
    artifact = artifact_get(user=request.user, public_id=artifact_id)
    number = request.GET.get("version")
    if number and not re.fullmatch(r"[0-9]{1,9}", number):  # str.isdigit() lets '²' through to int(): a 500
        raise InvalidInput(
            f"'version' must be a version number such as 2, not {number[:20]!r}.",
            errors={"version": ["A whole number."]},
        )
    versions = artifact.versions.order_by("number")
    version = versions.filter(number=int(number)).first() if number else versions.last()
    if version is None:
        raise NotFound(f"{artifact.path} has no version {number}.")
    return JsonResponse(
        {
            "path": artifact.path,
            "version": version.number,
            "latest": artifact.latest_version_number,
            "content": version.content,
            "html": highlight.highlight_file(artifact.path, version.content, artifact.language),
            "diff_html": highlight.highlight_diff(version.diff),
            "versions": [  # the picker: numbers and authors, never every version's content
                {"number": v["number"], "author": _author(v), "at": v["created_at"].isoformat()}
                for v in version_brief_list(artifact=artifact)
            ],
        }
    )


def _author(version: dict) -> str:
    if version["author_run_id"]:
        return version["author_run__agent__slug"]
    return version["author_user__username"] or ""


@require_GET
def highlight_css(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(highlight.stylesheet(), content_type="text/css")
    response["Cache-Control"] = "public, max-age=86400"
    return response
