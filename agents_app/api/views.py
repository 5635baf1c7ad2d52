"""Agents and run control API: parse, call one service, render."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents_app.api.serializers import (
    AgentListInput,
    AgentOutput,
    KnowledgeCreateInput,
    KnowledgeCreateJsonInput,
    KnowledgeHitOutput,
    KnowledgeOutput,
    KnowledgeSearchInput,
    VerificationReportOutput,
)
from agents_app.knowledge import knowledge_get, knowledge_search
from agents_app.selectors import agent_availability, run_get, verification_latest, verification_report
from agents_app.services import approvals, control, knowledge, verification
from sessions_app.access import organization_for
from sessions_app.api.base import SessionScopedView, parse
from sessions_app.api.serializers import ApprovalDecideInput, ApprovalOutput, RunOutput, SessionDetailOutput
from sessions_app.api.views import session_detail_response
from sessions_app.selectors import approval_get, session_get


class AgentListView(APIView):
    @extend_schema(parameters=[AgentListInput], responses=AgentOutput(many=True))
    def get(self, request: Request) -> Response:
        data = parse(AgentListInput, request.query_params)
        organization, role = organization_for(request.user, data["organization"])
        availability = agent_availability(organization=organization, role=role)
        return Response(AgentOutput(availability.usable, many=True).data)


def session_action(service: Callable) -> type[SessionScopedView]:
    """POST sessions/{id}/<action>/ → service(user=, session=) → the session detail."""

    class SessionActionView(SessionScopedView):
        @extend_schema(request=None, responses={200: SessionDetailOutput})
        def post(self, request: Request, session_id: str) -> Response:
            service(user=request.user, session=self.get_session(request, session_id))
            return session_detail_response(request, session_id)

    SessionActionView.__name__ = f"Session{service.__name__.title().replace('_', '')}View"
    return SessionActionView


def run_action(service: Callable) -> type[SessionScopedView]:
    """POST sessions/{id}/runs/{run}/<action>/ → service(user=, run=) → the run."""

    class RunActionView(SessionScopedView):
        @extend_schema(request=None, responses={200: RunOutput})
        def post(self, request: Request, session_id: str, run_id: str) -> Response:
            run = run_get(session=self.get_session(request, session_id), public_id=run_id)
            service(user=request.user, run=run)
            return Response(RunOutput(run_get(session=run.session, public_id=run_id)).data)

    RunActionView.__name__ = f"Run{service.__name__.title().replace('_', '')}View"
    return RunActionView


SessionPauseView = session_action(control.session_pause)
SessionResumeView = session_action(control.session_resume)
SessionCancelView = session_action(control.session_cancel)
SessionRetryView = session_action(control.session_retry)
RunPauseView = run_action(control.run_pause)
RunResumeView = run_action(control.run_resume)
RunCancelView = run_action(control.run_cancel)
RunRetryView = run_action(control.run_retry)


class ApprovalDecideView(APIView):
    @extend_schema(request=ApprovalDecideInput, responses={200: ApprovalOutput})
    def post(self, request: Request, approval_id: str) -> Response:
        data = parse(ApprovalDecideInput, request.data)
        approval = approval_get(user=request.user, public_id=approval_id)
        approval = approvals.approval_decide(
            user=request.user, approval=approval, decision=data["decision"], comment=data["comment"]
        )
        return Response(ApprovalOutput(approval_get(user=request.user, public_id=approval.public_id)).data)


class KnowledgeListCreateView(APIView):
    @extend_schema(
        operation_id="v1_knowledge_search",
        parameters=[KnowledgeSearchInput],
        responses=inline_serializer(
            "KnowledgeSearchOutput", {"results": KnowledgeHitOutput(many=True), "query": serializers.CharField()}
        ),
    )
    def get(self, request: Request) -> Response:
        data = parse(KnowledgeSearchInput, request.query_params)
        organization, _ = organization_for(request.user, data["organization"])
        hits = knowledge_search(organization=organization, query=data["q"], limit=data["limit"])
        return Response({"results": KnowledgeHitOutput(hits, many=True).data, "query": data["q"]})

    @extend_schema(
        request={"application/json": KnowledgeCreateJsonInput, "multipart/form-data": KnowledgeCreateInput},
        responses={201: KnowledgeOutput},
    )
    def post(self, request: Request) -> Response:
        data = parse(KnowledgeCreateInput, request.data)
        if data["session"]:
            session = session_get(user=request.user, public_id=data["session"])
            document = knowledge.knowledge_from_session(user=request.user, session=session, tags=data["tags"])
        elif data["file"]:
            document = knowledge.knowledge_upload(
                user=request.user,
                organization=data["organization"],
                upload=data["file"],
                title=data["title"],
                tags=data["tags"],
            )
        else:
            document = knowledge.knowledge_create(
                user=request.user,
                organization=data["organization"],
                title=data["title"],
                body=data["body"],
                tags=data["tags"],
            )
        return Response(KnowledgeOutput(document).data, status=status.HTTP_201_CREATED)


class KnowledgeDetailView(APIView):
    @extend_schema(responses=KnowledgeOutput)
    def get(self, request: Request, document_id: str) -> Response:
        return Response(KnowledgeOutput(knowledge_get(user=request.user, public_id=document_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, document_id: str) -> Response:
        knowledge.knowledge_delete(user=request.user, document=knowledge_get(user=request.user, public_id=document_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionVerificationView(SessionScopedView):
    """GET the latest checks report; POST runs the checks again (collaborators)."""

    @extend_schema(responses={200: VerificationReportOutput})
    def get(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        check = verification_latest(session=session)
        return Response(VerificationReportOutput(verification_report(check)).data)

    @extend_schema(
        request=None,
        responses={202: VerificationReportOutput},  # 403, 404, 409 in the error shape: sessions_app/api/schema.py
        description="Queue the checks over the session's files as they are now; 409 while agents or checks run.",
    )
    def post(self, request: Request, session_id: str) -> Response:
        check = verification.verification_rerun(user=request.user, session=self.get_session(request, session_id))
        return Response(VerificationReportOutput(verification_report(check)).data, status=status.HTTP_202_ACCEPTED)
