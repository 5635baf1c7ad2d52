"""The session's thread: `GET`/`POST sessions/{id}/conversation/`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from agents_app.selectors import run_get
from agents_app.services.conversation import conversation_post
from sessions_app import inputs
from sessions_app.api.base import SessionScopedView, parse
from sessions_app.api.pagination import DefaultCursorPagination
from sessions_app.api.serializers import text_field
from sessions_app.models import ConversationMessage, MessageKind
from sessions_app.selectors import conversation_list, message_get


class ThreadCursorPagination(DefaultCursorPagination):
    """A thread reads oldest first; `?cursor=` pages on."""

    ordering = "id"


class MessageAuthorOutput(serializers.Serializer):
    """As an event's `actor`: a person (id: username) or an agent (id: its slug, name: its display name)."""

    kind = serializers.ChoiceField(choices=["user", "agent", "system"])
    id = serializers.CharField()
    name = serializers.CharField()


class MessageAnswerOutput(serializers.Serializer):
    id = serializers.CharField()
    author = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessageLinkOutput(serializers.Serializer):
    artifact = serializers.CharField()
    path = serializers.CharField()
    version = serializers.IntegerField()


class ConversationMessageOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    text = serializers.CharField()
    author = serializers.SerializerMethodField()
    run = serializers.CharField(source="run.public_id", default=None)
    agent = serializers.CharField(source="run.agent.slug", default=None)
    reply_to = serializers.CharField(source="reply_to.public_id", default=None)
    links = MessageLinkOutput(many=True)
    feedback = serializers.IntegerField(source="feedback_id", allow_null=True)
    requirement = serializers.IntegerField(source="requirement_id", allow_null=True)
    answer = serializers.SerializerMethodField(help_text="A question's answer (null while it waits); null otherwise.")
    created_at = serializers.DateTimeField()

    @extend_schema_field(MessageAuthorOutput)
    def get_author(self, message: ConversationMessage) -> dict:
        if message.author_kind == "agent" and message.run_id:
            return {"kind": "agent", "id": message.author_agent, "name": message.run.agent.name}
        return {"kind": message.author_kind, "id": message.author_name, "name": message.author_name}

    @extend_schema_field(MessageAnswerOutput(allow_null=True))
    def get_answer(self, message: ConversationMessage) -> dict | None:
        if message.kind != MessageKind.QUESTION:
            return None
        answers = getattr(message, "answers", None)
        if answers is None:
            answers = list(message.replies.filter(kind=MessageKind.ANSWER).select_related("author_user"))
        if not answers:
            return None
        answer = answers[0]
        return {"id": answer.public_id, "author": answer.author_name, "created_at": answer.created_at}


class ConversationPostInput(serializers.Serializer):
    text = text_field(inputs.FEEDBACK)
    run = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, default=None, help_text="The agent run addressed (a run id)."
    )
    reply_to = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="The message answered (a msg_ id); a reply to an agent's question answers it.",
    )


class ConversationView(SessionScopedView):
    """The session's thread, oldest first: people's messages (the intent, feedback, requirement changes), the
    agents' replies and questions, and the answers. POST writes a message the agents receive as feedback at
    their next step (optional `run`, `reply_to`); a reply to an agent's question answers it and resumes the
    agent (once: a second answer is a 409 that names who answered)."""

    pagination_class = ThreadCursorPagination  # the schema shows the list in its {next, previous, results} envelope

    @extend_schema(responses=ConversationMessageOutput(many=True))
    def get(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(conversation_list(session=session), request, view=self)
        return paginator.get_paginated_response(ConversationMessageOutput(page, many=True).data)

    @extend_schema(request=ConversationPostInput, responses={201: ConversationMessageOutput})
    def post(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        data = parse(ConversationPostInput, request.data)
        run = run_get(session=session, public_id=data["run"]) if data["run"] else None
        reply_to = message_get(session=session, public_id=data["reply_to"]) if data["reply_to"] else None
        message = conversation_post(user=request.user, session=session, text=data["text"], run=run, reply_to=reply_to)
        message = conversation_list(session=session).get(pk=message.pk)
        return Response(ConversationMessageOutput(message).data, status=status.HTTP_201_CREATED)
