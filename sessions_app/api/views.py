"""Sessions API: one view per operation — parse, call one service or selector, render."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from agents_app.services.conflicts import conflict_views, conflicts_dismiss
from agents_app.services.start import development_start
from sessions_app.access import session_access
from sessions_app.api import serializers as s
from sessions_app.api.base import SessionScopedView, parse, request_data
from sessions_app.api.pagination import DefaultCursorPagination
from sessions_app.epic_visibility import children_view
from sessions_app.login_lockout import client_address, lockout_message, lockout_retry_after, login_failures_reset
from sessions_app.replay import events_rendered, page_json, redacted
from sessions_app.selectors import (
    EVENT_PAGE_MAX,
    approval_list,
    organization_list,
    requirement_get,
    session_detail_get,
    session_list,
)
from sessions_app.services.collaboration import feedback_submit, requirement_add, session_share, session_unshare


class TokenThrottle(AnonRateThrottle):
    """Per client address; HARNESS_NUM_PROXIES (NUM_PROXIES) says which X-Forwarded-For entry, if any, is it."""

    scope = "token"

    def get_ident(self, request: Request) -> str:
        return str(client_address(request))


class TokenCreateView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [TokenThrottle]

    @extend_schema(request=s.TokenInput, responses={200: s.TokenOutput})
    def post(self, request: Request) -> Response:
        data = parse(s.TokenInput, request.data)
        user = authenticate(request, username=data["username"], password=data["password"])
        if getattr(request, "axes_locked_out", False):  # set by django-axes on this failure, even a right password
            raise exceptions.Throttled(wait=lockout_retry_after(request), detail=lockout_message(request))
        if user is None or not user.is_active:
            return Response({"detail": "Wrong username or password.", "errors": {}}, status=status.HTTP_400_BAD_REQUEST)
        login_failures_reset(request, username=user.get_username())
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    def throttled(self, request: Request, wait: float | None) -> None:
        raise exceptions.Throttled(wait=wait, detail="Too many login attempts from your address.")


class OrganizationListView(APIView):
    @extend_schema(responses=s.OrganizationOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.OrganizationOutput(organization_list(user=request.user), many=True).data)


class SessionListCreateView(APIView):
    pagination_class = DefaultCursorPagination  # the schema shows the list in its {next, previous, results} envelope

    @extend_schema(
        parameters=[s.SessionListFilterInput],
        responses=s.SessionListOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = parse(s.SessionListFilterInput, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(session_list(user=request.user, **filters), request, view=self)
        data = s.SessionListOutput(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request={"application/json": s.SessionCreateJsonInput, "multipart/form-data": s.SessionCreateInput},
        responses={201: s.SessionDetailOutput},
    )
    def post(self, request: Request) -> Response:
        data = parse(s.SessionCreateInput, request_data(request))
        session = development_start(
            user=request.user,
            organization=data["organization"],
            intent=data["intent"],
            requirements=data["requirements"],
            screenshots=data["screenshots"],
            agents=data["agents"],
            execution_strategy=data["execution_strategy"],
            task_type=data["task_type"],
            parent=data["parent"],
        )
        return session_detail_response(request, session.public_id, status.HTTP_201_CREATED)


def session_detail_response(request: Request, public_id: str, code: int = status.HTTP_200_OK) -> Response:
    session = session_detail_get(user=request.user, public_id=public_id)
    context = {"request": request, "access": session_access(request.user, session)}
    return Response(s.SessionDetailOutput(session, context=context).data, status=code)


class SessionDetailView(APIView):
    @extend_schema(responses=s.SessionDetailOutput)
    def get(self, request: Request, session_id: str) -> Response:
        return session_detail_response(request, session_id)


class EventListView(SessionScopedView):
    @extend_schema(parameters=[s.EventListFilterInput], responses=s.EventPageOutput)
    def get(self, request: Request, session_id: str) -> HttpResponse:
        """The replay path of SSE and the websocket (`sessions_app.replay`): the events' JSON texts joined as is."""
        session = self.get_session(request, session_id)
        filters = parse(s.EventListFilterInput, request.query_params)
        events = events_rendered(
            session_pk=session.pk,
            session_public_id=session.public_id,
            after=filters["after"],
            limit=max(1, min(filters["limit"], EVENT_PAGE_MAX)),
        )
        view = children_view(request.user, session)  # a guest of an epic: without the children not shared
        events = redacted(events, view) if view else events
        body = page_json(session_public_id=session.public_id, last_seq=session.last_event_seq, events=events)
        return HttpResponse(body, content_type="application/json")


class FeedbackCreateView(SessionScopedView):
    @extend_schema(request=s.FeedbackInput, responses={201: s.FeedbackOutput})
    def post(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        data = parse(s.FeedbackInput, request.data)
        run = None
        if data["run"]:
            from agents_app.selectors import run_get

            run = run_get(session=session, public_id=data["run"])
        feedback = feedback_submit(user=request.user, session=session, text=data["text"], run=run)
        return Response(s.FeedbackOutput(feedback).data, status=status.HTTP_201_CREATED)


class RequirementCreateView(SessionScopedView):
    @extend_schema(request=s.RequirementInput, responses={201: s.RequirementOutput})
    def post(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        data = parse(s.RequirementInput, request.data)
        refines = requirement_get(session=session, requirement_id=data["refines"]) if data["refines"] else None
        requirement = requirement_add(user=request.user, session=session, text=data["text"], refines=refines)
        return Response(s.RequirementOutput(requirement).data, status=status.HTTP_201_CREATED)


class ShareView(SessionScopedView):
    @extend_schema(
        request=s.ShareInput,
        responses={
            200: inline_serializer(
                "ShareOutput", {"shared_with": serializers.CharField(), "level": serializers.CharField()}
            )
        },
    )
    def post(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        data = parse(s.ShareInput, request.data)
        session_share(user=request.user, session=session, username=data["username"], level=data["level"])
        return Response({"shared_with": data["username"], "level": data["level"]})


class UnshareView(SessionScopedView):
    @extend_schema(
        request=s.UnshareInput,
        responses={200: inline_serializer("UnshareOutput", {"unshared": serializers.CharField()})},
    )
    def post(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        data = parse(s.UnshareInput, request.data)
        session_unshare(user=request.user, session=session, username=data["username"])
        return Response({"unshared": data["username"]})


class ApprovalListView(SessionScopedView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, description="pending, approved, rejected, expired or dismissed")],
        responses=s.ApprovalOutput(many=True),
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        approvals = list(approval_list(session=session, status=request.query_params.get("status")))
        conflicts = conflict_views(approvals=approvals, viewer=request.user)
        return Response(s.ApprovalOutput(approvals, many=True, context={"conflicts": conflicts}).data)


class ApprovalDismissView(SessionScopedView):
    @extend_schema(
        summary="Dismiss cross-session conflicts (lead or admin): no decision needed",
        request=s.ApprovalDismissInput,
        responses={200: s.ApprovalDismissOutput},
    )
    def post(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        data = parse(s.ApprovalDismissInput, request.data)
        dismissed = conflicts_dismiss(
            user=request.user, session=session, approval_ids=data.get("approvals"), comment=data["comment"]
        )
        approvals = list(approval_list(session=session).filter(pk__in=[a.pk for a in dismissed]))
        views = conflict_views(approvals=approvals, viewer=request.user)
        return Response({"dismissed": s.ApprovalOutput(approvals, many=True, context={"conflicts": views}).data})
