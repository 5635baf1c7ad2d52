"""The agents' side of the thread: acknowledging feedback, saying what changed, asking a question and
resuming with its answer.

A question parks its run like an approval: status `awaiting_answer`, no worker, no heartbeat (the reaper
only requeues RUNNING runs whose heartbeat went stale, so it never touches a parked one). The first
collaborator's answer is recorded and queues the run again; at its next step the answer is the result of
its `ask_human` call (`question_settle`). Pause and cancel work on a waiting run as on any open run.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents_app.briefing import quoted
from agents_app.models import AgentRun, RunStatus
from agents_app.run_queue import park_waiting, queue_run
from artifacts_app.models import ArtifactVersion
from sessions_app import inputs
from sessions_app.access import require_session_access
from sessions_app.errors import Conflict, InvalidInput
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import ConversationMessage, DevelopmentSession, Feedback, MessageKind, SessionStatus
from sessions_app.services.collaboration import feedback_submit
from sessions_app.services.conversation import message_record

OFFLINE_LABEL = "[offline]"


def conversation_post(
    *,
    user: Any,
    session: DevelopmentSession,
    text: str,
    run: AgentRun | None = None,
    reply_to: ConversationMessage | None = None,
) -> ConversationMessage:
    """A person writes in the thread: a reply to an agent's question answers it; anything else is a message
    the agents receive as feedback at their next step."""
    if reply_to is not None and reply_to.kind == MessageKind.QUESTION:
        if run is not None and run.pk != reply_to.run_id:
            raise InvalidInput(
                "An answer goes to the agent that asked; leave 'run' out.",
                errors={"run": ["Not the agent that asked this question."]},
            )
        return question_answer(user=user, question=reply_to, text=text)
    feedback = feedback_submit(user=user, session=session, text=text, run=run, reply_to=reply_to)
    return feedback.message


# --- questions ----------------------------------------------------------------------------------------


def question_ask(*, run: AgentRun, question: str, actor: Actor) -> ConversationMessage:
    """Park the run on a question (call inside the worker's fenced step transaction); it frees its worker."""
    message = message_record(session=run.session, kind=MessageKind.QUESTION, text=question, actor=actor, run=run)
    park_waiting(
        run, status=RunStatus.AWAITING_ANSWER, event="agent.awaiting_answer",
        data={"question": message.public_id, "text": message.text[:500]}, actor=actor,
    )  # fmt: skip
    return message


def question_answer(*, user: Any, question: ConversationMessage, text: str) -> ConversationMessage:
    """The first collaborator's answer: recorded, and the waiting run is queued again (or, in a paused
    session, left paused: it finds the answer when it resumes)."""
    with transaction.atomic():
        session_lock_row(question.session_id)
        question = (
            ConversationMessage.objects.select_for_update(of=("self",))
            .select_related("session", "run__agent")
            .get(pk=question.pk)
        )
        session = question.session
        require_session_access(user, session, "collaborate", doing="answer the agents' questions")
        text = inputs.clean_text(text, inputs.FEEDBACK, field="text")
        earlier = question.replies.filter(kind=MessageKind.ANSWER).select_related("author_user").first()
        if earlier is not None:
            raise Conflict(
                f"Question {question.public_id} was already answered by {earlier.author_name} "
                f"at {earlier.created_at:%Y-%m-%d %H:%M:%S} UTC."
            )
        run = (
            AgentRun.objects.select_for_update(no_key=True)
            .select_related("agent", "session")
            .filter(pk=question.run_id)
            .first()
        )
        if run is None or run.is_terminal():
            state = run.status if run is not None else "gone"
            raise Conflict(f"The agent that asked {question.public_id} is {state}; nobody waits for this answer.")
        actor = Actor.for_user(user)
        answer = message_record(
            session=session, kind=MessageKind.ANSWER, text=text, actor=actor, run=run, reply_to=question
        )
        waiting = (run.checkpoint.get("pending") or {}).get("question") == question.public_id
        if run.status == RunStatus.AWAITING_ANSWER and waiting:
            if session.status == SessionStatus.RUNNING:
                data = {"question": question.public_id, "answer": answer.public_id}
                queue_run(run, actor=actor, event_type="agent.resumed", data=data)
            else:
                run.status = RunStatus.PAUSED
                run.save(update_fields=["status"])
    return answer


def question_settle(*, run: AgentRun, pending: dict) -> dict | None:
    """The `ask_human` result once the question is answered (None: still unanswered). Inside the fenced step."""
    answer = (
        ConversationMessage.objects.filter(reply_to__public_id=pending["question"], kind=MessageKind.ANSWER)
        .select_related("author_user")
        .first()
    )
    if answer is None:
        return None
    text = f"Answer from {answer.author_name} (quoted user text): {quoted(answer.text)}"
    return {"type": "tool_result", "tool_use_id": pending["tool_use_id"], "content": text}


def question_repark(*, run: AgentRun, pending: dict) -> None:
    """Queued again (a resume) before anyone answered: back to waiting, inside the fenced step."""
    run.status = RunStatus.AWAITING_ANSWER
    run.save(update_fields=["status"])
    event_record(
        session=run.session,
        type="agent.awaiting_answer",
        actor=Actor.for_agent(run.agent.slug, run.agent.name),
        run=run,
        data={"agent": run.agent.slug, "question": pending["question"], "still_waiting": True},
    )


# --- replies to feedback --------------------------------------------------------------------------------


def feedback_acknowledge(*, run: AgentRun, feedback: list[Feedback], said: str) -> None:
    """At delivery, in the step's transaction: "Got it — …" to each message the run just received, with what
    it says at this step; it owes each one a "what I changed" reply when it finishes (`changes_report`)."""
    messages = list(ConversationMessage.objects.filter(feedback__in=feedback).select_related("run__agent"))
    if not messages:
        return
    actor = Actor.for_agent(run.agent.slug, run.agent.name)
    label, said = _label(said.strip())
    gist = said.splitlines()[0][:300] if said else f"I have your message and take it into account from step {run.step}."
    due = list(run.checkpoint.get("replies_due", []))
    for message in messages:
        reply = message_record(
            session=run.session,
            kind=MessageKind.REPLY,
            text=f"{label}Got it — {gist}",
            actor=actor,
            run=run,
            reply_to=message,
        )
        due.append({"message": message.public_id, "reply": reply.public_id, "since_step": run.step, "label": label})
    run.checkpoint = {**run.checkpoint, "replies_due": due}
    run.save(update_fields=["checkpoint"])


def changes_report(*, run: AgentRun) -> None:
    """When the run finishes: one reply per message it acknowledged, naming the file versions it wrote since,
    with links (or saying plainly that it changed nothing)."""
    due = run.checkpoint.get("replies_due") or []
    if not due:
        return
    actor = Actor.for_agent(run.agent.slug, run.agent.name)
    originals = {m.public_id: m for m in ConversationMessage.objects.filter(public_id__in=[d["message"] for d in due])}
    for item in due:
        versions = (
            ArtifactVersion.objects.filter(author_run=run, author_step__gte=item["since_step"])
            .select_related("artifact")
            .order_by("artifact__path", "number")
        )
        links = [{"artifact": v.artifact.public_id, "path": v.artifact.path, "version": v.number} for v in versions]
        if links:
            listed = ", ".join(f"{link['path']} v{link['version']}" for link in links[:20])
            more = f" and {len(links) - 20} more" if len(links) > 20 else ""
            text = f"{item.get('label', '')}What I changed after your message: {listed}{more}."
        else:
            text = f"{item.get('label', '')}I changed no files after your message."
        message_record(
            session=run.session,
            kind=MessageKind.REPLY,
            text=text,
            actor=actor,
            run=run,
            reply_to=originals.get(item["message"]),
            links=links,
        )
    run.checkpoint = {key: value for key, value in run.checkpoint.items() if key != "replies_due"}
    run.save(update_fields=["checkpoint"])


def _label(said: str) -> tuple[str, str]:
    """The offline provider's label stays at the front of what it says."""
    if said.startswith(OFFLINE_LABEL):
        return f"{OFFLINE_LABEL} ", said[len(OFFLINE_LABEL) :].strip()
    return "", said
