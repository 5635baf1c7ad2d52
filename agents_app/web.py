"""`/knowledge/`: search the organisation knowledge base, write or upload a document, delete one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from agents_app.knowledge import knowledge_get, knowledge_search
from agents_app.services import knowledge
from sessions_app import inputs
from sessions_app.access import has_role, organization_for
from sessions_app.errors import DomainError
from sessions_app.models import Role
from sessions_app.selectors import organization_list


@login_required
@require_http_methods(["GET", "POST"])
def knowledge_page(request: HttpRequest) -> HttpResponse:
    memberships = list(organization_list(user=request.user))
    slug = (
        request.GET.get("organization")
        or request.POST.get("organization")
        or (memberships[0].organization.slug if memberships else "")
    )
    query = (request.GET.get("q") or "").strip()
    status = 200
    try:  # an organisation the caller is not in: 404 with the API's message, before anything is written
        organization, role = organization_for(request.user, slug)
    except DomainError as exc:
        return render(request, "development/error.html", {"detail": exc.detail}, status=exc.status_code)
    if request.method == "POST":
        try:
            _create(request, organization.slug)
            messages.success(request, "Saved to the knowledge base.")
            return redirect(f"{reverse('knowledge')}?organization={organization.slug}")
        except DomainError as exc:
            messages.error(request, exc.detail)
            status = exc.status_code
    hits = knowledge_search(organization=organization, query=query, limit=50)
    return render(
        request,
        "knowledge/page.html",
        {
            "hits": hits,
            "query": query,
            "organization": slug,
            "memberships": memberships,
            "form": request.POST,
            "title_max": inputs.KNOWLEDGE_TITLE.max_length,
            "is_lead": has_role(role, Role.LEAD),
        },
        status=status,
    )


def _create(request: HttpRequest, slug: str) -> None:
    tags = [t for t in (request.POST.get("tags") or "").split(",") if t.strip()]
    upload = request.FILES.get("file")
    if upload is not None:
        knowledge.knowledge_upload(
            user=request.user, organization=slug, upload=upload, title=request.POST.get("title", ""), tags=tags
        )
        return
    knowledge.knowledge_create(
        user=request.user,
        organization=slug,
        title=request.POST.get("title", ""),
        body=request.POST.get("body", ""),
        tags=tags,
    )


@login_required
@require_POST
def knowledge_delete_view(request: HttpRequest, document_id: str) -> HttpResponse:
    try:
        document = knowledge_get(user=request.user, public_id=document_id)
        slug = document.organization.slug
        knowledge.knowledge_delete(user=request.user, document=document)
        messages.success(request, f"Deleted “{document.title}”.")
    except DomainError as exc:
        return render(request, "development/error.html", {"detail": exc.detail}, status=exc.status_code)
    return redirect(f"{reverse('knowledge')}?organization={slug}")
