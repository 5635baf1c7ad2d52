"""The session's thread in the engine: a message is acknowledged at delivery and answered with what changed;
an agent's question parks its run (the worker is freed, the reaper leaves it alone) until the first answer
resumes it with that answer as its tool result; pause and cancel work on a waiting run; the offline provider
says plainly what it cannot do; on the anthropic path the model decides to ask (the fake server scripts it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents_app import planning, reaper, runtime
from agents_app.models import AgentRun, RunStatus
from agents_app.services import control
from agents_app.services.conversation import conversation_post
from artifacts_app.models import ArtifactVersion
from sessions_app.errors import Conflict
from sessions_app.models import ConversationMessage, DevelopmentSession, Feedback, SessionEvent
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.support import assert_gap_free, wait_for, wait_for_status

QUESTION = "Which port should the API listen on?"


def plan(start, **kwargs):  # noqa: ANN001, ANN003, ANN201
    session = start(**kwargs)
    assert planning.plan_session(session.pk) == "planned"
    return DevelopmentSession.objects.get(pk=session.pk)


def claimed(session: DevelopmentSession) -> tuple[AgentRun, int]:
    run = AgentRun.objects.select_related("agent").get(session=session, status=RunStatus.QUEUED)
    return run, runtime.run_claim(run.pk, run.task_id)


def thread(session: DevelopmentSession, **filters) -> list[ConversationMessage]:  # noqa: ANN003
    return list(ConversationMessage.objects.filter(session=session, **filters).order_by("id"))


@pytest.fixture
def solo(db, start):  # noqa: ANN001, ANN201
    """One offline requirements analyst: step 0 looks, step 1 writes docs/requirements.md, step 2 finishes."""
    return plan(start, agents=["requirements-analyst"])


@pytest.fixture
def asking(db, start):  # noqa: ANN001, ANN201
    return plan(start, agents=["requirements-analyst"], requirements=[f"ask: {QUESTION}"])


def park_on_question(session: DevelopmentSession) -> tuple[AgentRun, int, ConversationMessage]:
    run, attempt = claimed(session)
    assert runtime.step(run.pk, attempt) == "continue"  # looks at the workspace
    assert runtime.step(run.pk, attempt) == "parked"  # asks
    question = ConversationMessage.objects.get(session=session, kind="question")
    return AgentRun.objects.get(pk=run.pk), attempt, question


def test_it_acknowledges_a_message_at_delivery_and_says_what_it_changed_with_links(solo, cast):
    run, attempt = claimed(solo)
    assert runtime.step(run.pk, attempt) == "continue"
    assert runtime.step(run.pk, attempt) == "continue"  # docs/requirements.md v1

    message = conversation_post(user=cast["lead"], session=solo, text="In requirements.md, spell it colour")
    assert message.kind == "message" and message.feedback.status == "pending"
    assert runtime.step(run.pk, attempt) == "continue"  # receives it

    ack = ConversationMessage.objects.get(reply_to=message, kind="reply")
    assert ack.run_id == run.pk and ack.author_kind == "agent"
    assert ack.text.startswith("[offline] Got it — I cannot act on free text, so I noted your message in "
                               "docs/requirements.md")  # fmt: skip
    assert Feedback.objects.get(pk=message.feedback_id).status == "delivered"
    delivered = SessionEvent.objects.get(session=solo, type="feedback.delivered")
    ack_event = SessionEvent.objects.get(session=solo, type="conversation.message", data__id=ack.public_id)
    assert ack_event.seq > delivered.seq and ack_event.data["reply_to"] == message.public_id

    assert runtime.step(run.pk, attempt) == "finished"
    changed = ConversationMessage.objects.filter(reply_to=message, kind="reply").exclude(pk=ack.pk).get()
    v2 = ArtifactVersion.objects.get(artifact__session=solo, artifact__path="docs/requirements.md", number=2)
    assert "Messages noted" in v2.content and "colour" in v2.content
    assert changed.links == [{"artifact": v2.artifact.public_id, "path": "docs/requirements.md", "version": 2}]
    assert changed.text == "[offline] What I changed after your message: docs/requirements.md v2."
    types = assert_gap_free(solo)
    assert types.index("agent.completed") > types.index("conversation.message")


def test_a_message_that_names_none_of_its_files_changes_nothing_and_it_says_so(solo, cast):
    run, attempt = claimed(solo)
    runtime.step(run.pk, attempt)
    runtime.step(run.pk, attempt)
    message = conversation_post(user=cast["member"], session=solo, text="Use British spelling throughout")

    assert runtime.step(run.pk, attempt) == "finished"

    replies = thread(solo, reply_to=message)
    assert [r.text for r in replies] == [
        "[offline] Got it — Your message names none of my files and I cannot act on free text, so I changed "
        "nothing for it (files I write from now on note it). Wrote 1 files: docs/requirements.md. Noted 1 "
        "message(s) or answer(s); the offline provider applies only fields they ask for.",
        "[offline] I changed no files after your message.",
    ]
    assert replies[1].links == []
    assert ArtifactVersion.objects.filter(artifact__session=solo).count() == 1


def test_the_offline_agent_applies_a_field_a_message_asks_for_and_says_what_it_cannot(solo, cast):
    run, attempt = claimed(solo)
    runtime.step(run.pk, attempt)
    runtime.step(run.pk, attempt)
    v1 = ArtifactVersion.objects.get(artifact__session=solo, artifact__path="docs/requirements.md")
    assert "priority" not in v1.content
    message = conversation_post(user=cast["member"], session=solo, text="Messages have a priority")

    assert runtime.step(run.pk, attempt) == "continue"

    ack = ConversationMessage.objects.get(reply_to=message, kind="reply")
    assert ack.text == (
        "[offline] Got it — I added the optional field(s) Message.priority (int) your message asks for to my files "
        "(docs/requirements.md); other agents' files are theirs to change, and anything else in free text I cannot "
        "act on."
    )
    v2 = ArtifactVersion.objects.get(artifact__session=solo, artifact__path="docs/requirements.md", number=2)
    assert "optional: sent_at, priority." in v2.content and "optional: sent_at." in v1.content
    assert runtime.step(run.pk, attempt) == "finished"
    assert thread(solo, reply_to=message)[-1].links[0]["version"] == 2


def test_feedback_and_requirement_changes_are_in_the_thread(solo, cast):
    from sessions_app.services.collaboration import feedback_submit, requirement_add

    feedback = feedback_submit(user=cast["member"], session=solo, text="more tests please")
    requirement = requirement_add(user=cast["lead"], session=solo, text="Messages may have an optional topic")

    entries = thread(solo)
    assert [(m.kind, m.text) for m in entries] == [
        ("message", "build a chat app"),  # the intent opens the thread
        ("message", "more tests please"),
        ("message", "Messages may have an optional topic"),
    ]
    assert entries[1].feedback_id == feedback.pk and entries[2].requirement_id == requirement.pk
    events = SessionEvent.objects.filter(session=solo, type="conversation.message").order_by("seq")
    assert [e.data["requirement"] for e in events] == [
        None, {"id": requirement.pk, "refines": None, "status": "active"}
    ]  # fmt: skip


def test_a_question_parks_the_run_and_the_first_answer_is_its_tool_result(asking, cast):
    run, attempt, question = park_on_question(asking)

    assert run.status == RunStatus.AWAITING_ANSWER and question.text == QUESTION and question.run_id == run.pk
    assert run.checkpoint["pending"]["question"] == question.public_id
    assert runtime.step(run.pk, attempt) == "fenced"  # parked: no worker may step it
    waiting = SessionEvent.objects.get(session=asking, type="agent.awaiting_answer")
    assert waiting.data["question"] == question.public_id

    answer = conversation_post(user=cast["lead"], session=asking, text="8080, please", reply_to=question)
    assert answer.kind == "answer" and answer.reply_to_id == question.pk
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    with pytest.raises(Conflict, match="already answered by lead"):
        conversation_post(user=cast["member"], session=asking, text="9000", reply_to=question)

    attempt = runtime.run_claim(run.pk, run.task_id)
    assert runtime.step(run.pk, attempt) == "continue"  # settles: the answer is the ask_human result
    run.refresh_from_db()
    result = run.checkpoint["messages"][-1]["content"][-1]
    assert result["type"] == "tool_result" and result["tool_use_id"] == question_tool_use(run)
    assert result["content"] == 'Answer from lead (quoted user text): "8080, please"'
    assert runtime.step(run.pk, attempt) == "continue"  # writes, thanking for the answer
    assert "Thanks — I noted your answer" in run_texts(run)[-1]
    written = ArtifactVersion.objects.get(artifact__session=asking, artifact__path="docs/requirements.md")
    assert "8080, please" in written.content
    assert runtime.step(run.pk, attempt) == "finished"
    assert ConversationMessage.objects.filter(session=asking, kind="question").count() == 1  # asked once


def question_tool_use(run: AgentRun) -> str:
    for message in run.checkpoint["messages"]:
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "tool_use" and block["name"] == "ask_human":
                return block["id"]
    raise AssertionError("no ask_human call")


def run_texts(run: AgentRun) -> list[str]:
    run.refresh_from_db()
    return [
        block["text"]
        for message in run.checkpoint["messages"]
        if message["role"] == "assistant"
        for block in message["content"]
        if block.get("type") == "text"
    ]


def test_the_reaper_leaves_a_run_waiting_for_an_answer_alone(asking):
    run, _, _ = park_on_question(asking)
    AgentRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    reaper.requeue_lost_work()

    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.AWAITING_ANSWER
    assert not SessionEvent.objects.filter(session=asking, type="agent.requeued").exists()


def test_cancelling_a_waiting_session_cancels_the_run_and_nobody_can_answer_then(asking, cast):
    run, _, question = park_on_question(asking)

    control.session_cancel(user=cast["member"], session=asking)

    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    with pytest.raises(Conflict, match="cancelled; nobody waits for this answer"):
        conversation_post(user=cast["lead"], session=asking, text="too late", reply_to=question)
    assert not ConversationMessage.objects.filter(session=asking, kind="answer").exists()


def test_a_paused_waiting_agent_keeps_its_question_and_resumes_with_the_answer(asking, cast):
    run, attempt, question = park_on_question(asking)
    control.session_pause(user=cast["member"], session=asking)
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.PAUSED
    control.session_resume(user=cast["member"], session=asking)
    run, attempt = claimed(asking)
    assert runtime.step(run.pk, attempt) == "parked"  # no answer yet: it waits again
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.AWAITING_ANSWER

    control.run_pause(user=cast["member"], run=run)  # one agent, too
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.PAUSED
    conversation_post(user=cast["member"], session=asking, text="443", reply_to=question)
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.PAUSED  # answered, and left paused
    control.session_pause(user=cast["member"], session=asking)

    control.session_resume(user=cast["member"], session=asking)
    run, attempt = claimed(asking)
    assert runtime.step(run.pk, attempt) == "continue"
    run.refresh_from_db()
    assert run.checkpoint["messages"][-1]["content"][-1]["content"].endswith('"443"')


def test_a_waiting_agent_frees_its_worker_and_the_answer_resumes_it_on_the_worker(worker, start, cast, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0
    asking = start(agents=["requirements-analyst"], requirements=[f"ask: {QUESTION}"])
    question = wait_for(
        lambda: ConversationMessage.objects.filter(session=asking, kind="question").first(), what="the question"
    )
    run = wait_for(
        lambda: AgentRun.objects.filter(session=asking, status=RunStatus.AWAITING_ANSWER).first(), what="parked"
    )

    # While it waits, the worker does other work: a whole session completes.
    other = wait_for_status(start(agents=["requirements-analyst"]), "completed", "failed")
    assert other.status == "completed"
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.AWAITING_ANSWER

    conversation_post(user=cast["lead"], session=asking, text="8080", reply_to=question)

    done = wait_for_status(asking, "completed", "failed")
    assert done.status == "completed", done.completion_summary
    written = ArtifactVersion.objects.get(artifact__session=asking, artifact__path="docs/requirements.md")
    assert "8080" in written.content
    types = assert_gap_free(asking)
    assert types.index("agent.awaiting_answer") < types.index("agent.resumed") < types.index("agent.completed")


@pytest.fixture
def anthropic_settings(settings, fake_anthropic):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM = "anthropic"
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    return fake_anthropic


def test_on_the_anthropic_path_the_model_asks_and_receives_the_answer(worker, start, cast, anthropic_settings):
    fake = anthropic_settings
    fake.queue_tool_use("ask_human", {"question": "SQLite or PostgreSQL?"}, text="I need one decision first.")
    session = start(agents=["requirements-analyst"])
    question = wait_for(
        lambda: ConversationMessage.objects.filter(session=session, kind="question").first(), what="the question"
    )
    assert question.text == "SQLite or PostgreSQL?"
    step_request = next(r for r in fake.requests if r["body"].get("tools"))
    ask = next(t for t in step_request["body"]["tools"] if t["name"] == "ask_human")
    assert ask["input_schema"]["required"] == ["question"]
    fake.queue_tool_use("write_file", {"path": "docs/requirements.md", "content": "# Requirements\n- PostgreSQL\n"})
    fake.queue_tool_use("finish", {"summary": "wrote the requirements"})

    conversation_post(user=cast["lead"], session=session, text="PostgreSQL", reply_to=question)

    assert wait_for_status(session, "completed", "failed").status == "completed"
    answered = [r for r in fake.requests if "PostgreSQL" in str(r["body"]["messages"][-1]["content"])]
    result = next(b for b in answered[0]["body"]["messages"][-1]["content"] if b.get("type") == "tool_result")
    assert result["content"] == 'Answer from lead (quoted user text): "PostgreSQL"'
    assert fake.violations == []


def test_a_waiting_run_sent_again_before_any_answer_goes_back_to_waiting(asking):
    from agents_app.run_queue import queue_run
    from sessions_app.events import Actor

    run, _, question = park_on_question(asking)
    assert queue_run(AgentRun.objects.select_related("agent", "session").get(pk=run.pk), actor=Actor.system())
    run, attempt = claimed(asking)

    assert runtime.step(run.pk, attempt) == "parked"

    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_ANSWER and run.checkpoint["pending"]["question"] == question.public_id
    again = SessionEvent.objects.filter(session=asking, type="agent.awaiting_answer").order_by("seq").last()
    assert again.data == {"agent": "requirements-analyst", "question": question.public_id, "still_waiting": True}
