"""The offline provider: deterministic, no network — the embedded default for demos and tests.

As an agent it follows the same tool protocol as a model would, and decides its next action only
from the conversation it is given, so it resumes correctly from any checkpoint: it reports
progress, writes its template files one by one (from `agents_app.offline_templates`), and finishes with
a summary. Everything it says starts with "[offline]".

**In the conversation it is honest about what it is.** It applies what its spec can express: a
message that asks for a field ("Messages have a priority", read like a requirement) adds it, optional,
to the files this agent wrote (other agents' files stay theirs). Anything else it cannot act on, and
says so: it notes the message in the file the message names (rewritten, the note appended as a
comment), or nowhere when it names none of its files ("I changed nothing"); files it writes
afterwards carry the note too. The engine turns what it says into the "Got it — …" reply and,
when it finishes, the "what I changed" reply with the versions.

**Asking a question (deterministic).** A requirement written `ask: QUESTION` makes every offline agent
ask QUESTION with `ask_human` right after it looks at the workspace; `ask SLUG: QUESTION` makes only
the agent SLUG ask (e.g. `ask backend: which port should the API use?`). Each question is asked once;
the run waits for the answer, notes it like a message, and goes on.

Usage is counted, not billed: characters ÷ 4, recorded as `Usage(..., estimated=True)` at zero cost,
so analytics never show invented spend.

**Holding an agent at a step (tests).** Instead of slowing the offline model down and sleeping, a
test holds one agent exactly where it wants it::

    gate = offline.hold(agent="backend", step=2)   # before starting the session
    ...                                            # start it
    gate.wait_reached(timeout=30)                  # the agent is now inside its step 2 call
    ...                                            # pause it, give feedback, kill a worker...
    gate.release()                                 # the call returns and the agent goes on

The step is the agent's count of assistant turns in the conversation it sends (0 = its first call).
The first matching call sets `gate.reached` and blocks until `release()`; a gate holds once. A
forgotten gate lets go by itself after `timeout` seconds (default 120), so it never hangs a worker
for ever. `offline.release_all()` releases every gate (call it in teardown). Gates live in the
process: they hold workers that run as threads of the test process, not separate worker processes.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import jsonschema
from django.conf import settings

from agents_app.briefing import feedback_text
from agents_app.llm.base import LLMError, LLMRequest, LLMResponse, ToolCall, Usage
from agents_app.llm.recording import record_call
from agents_app.offline_project.spec import spec_for

MAX_WRITE_ATTEMPTS = 2
logger = logging.getLogger(__name__)


def _default_files_provider(agent: str, **kwargs):  # noqa: ANN003, ANN202
    from agents_app.offline_templates import offline_files

    return offline_files(agent, **kwargs)


#: Where the offline agent gets its files; tests may point it elsewhere.
files_provider: Callable = _default_files_provider


class OfflineProvider:
    name = "offline"
    model = "offline"

    def complete(self, request: LLMRequest, *, on_text: Callable[[str], None] | None = None) -> LLMResponse:
        if request.context.purpose == "agent_step" and settings.HARNESS_OFFLINE_STEP_SECONDS:
            time.sleep(settings.HARNESS_OFFLINE_STEP_SECONDS)  # simulated model latency (demos, crash tests)
        if request.context.purpose == "agent_step":
            _held(request.context.offline_hint.get("agent", "agent"), _History(request.messages).assistant_turns)
            text, calls = _agent_step(request)
        else:
            text, calls = f"[offline] no model is configured for {request.context.purpose}.", []
        if on_text is not None:
            for start in range(0, len(text), 40):
                on_text(text[start : start + 40])
        response = _response(text, calls, request)
        record_call(request.context, provider=self.name, model=self.model, response=response)
        return response

    def complete_json(
        self, request: LLMRequest, *, schema: dict, offline_answer: Callable[[], dict] | None = None
    ) -> tuple[dict, LLMResponse]:
        if offline_answer is None:
            raise LLMError(f"offline: no deterministic answer for {request.context.purpose}", category="validation")
        answer = offline_answer()
        try:
            jsonschema.validate(answer, schema)
        except jsonschema.ValidationError as exc:
            raise LLMError(
                f"offline answer for {request.context.purpose} is invalid: {exc.message}", category="validation"
            )
        response = _response(f"[offline] {request.context.purpose}", [], request)
        record_call(request.context, provider=self.name, model=self.model, response=response)
        return answer, response


def _response(text: str, calls: list[ToolCall], request: LLMRequest) -> LLMResponse:
    content: list[dict] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in calls]
    prompt_chars = len(request.system) + sum(len(str(m.get("content", ""))) for m in request.messages)
    output_chars = len(text) + sum(len(str(c.input)) for c in calls)
    return LLMResponse(
        text=text,
        tool_calls=calls,
        stop_reason="tool_use" if calls else "end_turn",
        usage=Usage(input_tokens=prompt_chars // 4, output_tokens=output_chars // 4, estimated=True),
        model="offline",
        provider="offline",
        latency_ms=0,
        cost_usd=Decimal(0),
        content=content,
    )


# --- holding an agent at a step (a test hook) --------------------------------------------------------


class Gate:
    """Holds the offline agent `agent` when it is asked for its step `step` (see the module docstring)."""

    def __init__(self, agent: str, step: int, timeout: float) -> None:
        self.agent, self.step, self.timeout = agent, step, timeout
        self.reached = threading.Event()
        self._released = threading.Event()
        self._taken = False

    def wait_reached(self, timeout: float = 30.0) -> Gate:
        if not self.reached.wait(timeout):
            raise AssertionError(f"the offline agent {self.agent!r} did not reach step {self.step} within {timeout}s")
        return self

    def release(self) -> None:
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def _hold(self) -> None:
        self.reached.set()
        if not self._released.wait(self.timeout):
            logger.warning("offline gate %s/step %s was never released; letting go after %ss", self.agent, self.step,
                           self.timeout)  # fmt: skip


_gates: list[Gate] = []
_gates_lock = threading.Lock()


def hold(*, agent: str, step: int, timeout: float = 120.0) -> Gate:
    """Hold the offline agent `agent` at its step `step` until the returned gate is released."""
    gate = Gate(agent, step, timeout)
    with _gates_lock:
        _gates.append(gate)
    return gate


def release_all() -> None:
    """Release every gate, reached or not (test teardown)."""
    with _gates_lock:
        gates = list(_gates)
        _gates.clear()
    for gate in gates:
        gate.release()


def _held(agent: str, step: int) -> None:
    with _gates_lock:
        gate = next((g for g in _gates if not g._taken and g.agent == agent and g.step == step), None)
        if gate is not None:
            gate._taken = True  # a gate holds once; it stays listed so that release_all() reaches it
    if gate is not None:
        gate._hold()


# --- the offline agent ------------------------------------------------------------------------------


def _agent_step(request: LLMRequest) -> tuple[str, list[ToolCall]]:
    hint = request.context.offline_hint
    history = _History(request.messages)
    feedback = history.feedback()
    spec, added = _spec_with_requests(hint, feedback)
    files = files_provider(
        hint.get("agent", "agent"),
        intent=hint.get("intent", ""),
        requirements=list(hint.get("requirements", [])),
        visual_context=hint.get("visual_context") or {},
        task_type=hint.get("task_type", "feature"),
        feedback=feedback or None,
        **({"spec": spec} if spec is not None else {}),
        **({"files": hint["files"]} if hint.get("files") is not None else {}),
    )
    step = history.assistant_turns
    call_id = lambda i: f"toolu_offline_{step}_{i}"  # noqa: E731

    if step == 0:
        message = f"Reading the intent and {len(hint.get('requirements', []))} requirements"
        return f"[offline] {message}.", [
            ToolCall(call_id(0), "report_progress", {"percent": 5, "message": message}),
            ToolCall(call_id(1), "list_files", {}),
        ]

    question = _question_to_ask(hint, history)
    if question:
        return f"[offline] I need the team's answer before I go on: {question}", [
            ToolCall(call_id(0), "ask_human", {"question": question})
        ]

    said = ""
    if history.latest_answer():
        said = "Thanks — I noted your answer; the offline provider cannot act on free text, so my plan is unchanged. "
    latest_feedback = history.latest_feedback()
    if latest_feedback:
        _, added_before = _spec_with_requests(hint, [f for f in feedback if f not in latest_feedback])
        added_now = [field for field in added if field not in added_before]
        redo = [f for f in files if f.path in history.written and f.content != history.contents.get(f.path)]
        if added_now and redo:
            return (
                f"[offline] I added the optional field(s) {', '.join(added_now)} your message asks for to my files "
                f"({', '.join(f.path for f in redo)}); other agents' files are theirs to change, and anything else "
                "in free text I cannot act on.",
                [
                    ToolCall(call_id(i), "write_file", {"path": f.path, "content": f.content, "kind": f.kind})
                    for i, f in enumerate(redo)
                ],
            )
        target = _feedback_target(files, history.written, latest_feedback) if history.written else None
        if target is not None:
            return (
                f"[offline] I cannot act on free text, so I noted your message in {target.path} (the file it names) "
                "and changed nothing else.",
                [
                    ToolCall(
                        call_id(0), "write_file", {"path": target.path, "content": target.content, "kind": target.kind}
                    ),
                    ToolCall(
                        call_id(1),
                        "report_progress",
                        {"percent": history.percent(files), "message": f"noted feedback in {target.path}"},
                    ),
                ],
            )
        said = (
            "Your message names none of my files and I cannot act on free text, so I changed nothing for it "
            "(files I write from now on note it). "
            if history.written
            else "I cannot act on free text; the files I write from now on note your message. "
        )

    pending = [
        f for f in files if f.path not in history.written and history.failures.get(f.path, 0) < MAX_WRITE_ATTEMPTS
    ]
    if pending:
        file = pending[0]
        done = len(files) - len(pending) + 1
        percent = min(95, 5 + round(90 * done / max(1, len(files))))
        return f"[offline] {said}Writing {file.path}.", [
            ToolCall(call_id(0), "write_file", {"path": file.path, "content": file.content, "kind": file.kind}),
            ToolCall(call_id(1), "report_progress", {"percent": percent, "message": f"wrote {file.path}"}),
        ]

    written = [f.path for f in files if f.path in history.written]
    summary = f"[offline] Wrote {len(written)} files: {', '.join(written) or 'none'}."
    if feedback:
        summary += (
            f" Noted {len(feedback)} message(s) or answer(s); the offline provider applies only fields they ask for."
        )
    text = f"[offline] {said}{summary.removeprefix('[offline] ')}"
    return text, [ToolCall(call_id(0), "finish", {"summary": summary})]


def _spec_with_requests(hint: dict, feedback: list[str]) -> tuple[dict | None, list[str]]:
    """The session's spec plus the fields people's messages ask for ("Messages have a priority"), read the way
    requirements are read, added as optional so the other agents' files stay valid; and those fields named."""
    spec = hint.get("spec")
    intent, requirements = hint.get("intent", ""), [str(r) for r in hint.get("requirements", [])]
    if not feedback:
        return spec, []
    base = spec_for(intent, requirements, hint.get("task_type", "feature"))
    asked = spec_for(intent, requirements + list(feedback), hint.get("task_type", "feature"))
    spec = copy.deepcopy(spec if spec is not None else base)
    if spec.get("kind") != "crud":
        return spec, []
    before = {e["name"]: {f["name"] for f in e["fields"]} for e in base["entities"]}
    targets = {e["name"]: e for e in spec["entities"]}
    added = []
    for entity in asked["entities"]:
        target = targets.get(entity["name"])
        if target is None or entity["name"] not in before:
            continue
        known = before[entity["name"]] | {f["name"] for f in target["fields"]}
        for field in entity["fields"]:
            if field["name"] in known or field["references"]:
                continue
            target["fields"].append({**field, "required": False, "default": False if field["type"] == "bool" else None})
            added.append(f"{entity['name']}.{field['name']} ({field['type']})")
    return spec, added


ASK = re.compile(r"^\s*ask(?:\s+([a-z0-9][a-z0-9-]*))?\s*:\s*(\S.*)$", re.IGNORECASE | re.DOTALL)


def _question_to_ask(hint: dict, history: _History) -> str | None:
    """The first `ask: …` / `ask SLUG: …` requirement for this agent that it has not asked yet."""
    agent = hint.get("agent", "agent")
    for requirement in hint.get("requirements", []):
        match = ASK.match(str(requirement))
        if match and match.group(1) in (None, agent):
            question = " ".join(match.group(2).split())[:1000]
            if question not in history.asked:
                return question
    return None


def _feedback_target(files: list, written: set[str], feedback: list[str]):  # noqa: ANN202
    """The file the feedback names: by its whole path first, then by its bare name (as a word); None when
    it names none (the offline agent then changes nothing for it)."""
    candidates = [f for f in files if f.path in written]
    for matches in (
        lambda path, text: path in text,
        lambda path, text: re.search(rf"(?<![\w/.]){re.escape(path.rsplit('/', 1)[-1])}\b", text) is not None,
    ):
        for file in candidates:
            if any(matches(file.path, text) for text in feedback):
                return file
    return None


class _History:
    """What the conversation says has happened: files written, failures, feedback."""

    def __init__(self, messages: list[dict]) -> None:
        self.messages = messages
        self.assistant_turns = sum(1 for m in messages if m["role"] == "assistant")
        results = {
            block.get("tool_use_id"): block
            for m in messages
            if m["role"] == "user" and isinstance(m["content"], list)
            for block in m["content"]
            if block.get("type") == "tool_result"
        }
        self.written: set[str] = set()
        self.contents: dict[str, str] = {}  # what it last wrote to each path
        self.failures: dict[str, int] = {}
        self.asked: set[str] = set()
        self.answers: list[str] = []
        self._answer_ids: set[str] = set()
        for message in messages:
            if message["role"] != "assistant" or not isinstance(message["content"], list):
                continue
            for block in message["content"]:
                if block.get("type") == "tool_use" and block.get("name") == "ask_human":
                    self.asked.add(str(block["input"].get("question", "")))
                    answer = results.get(block["id"])
                    if answer is not None and not answer.get("is_error"):
                        self.answers.append(_answer_text(str(answer.get("content", ""))))
                        self._answer_ids.add(block["id"])
                if block.get("type") != "tool_use" or block.get("name") != "write_file":
                    continue
                result = results.get(block["id"])
                path = block["input"].get("path", "")
                if result is None:
                    continue
                text = str(result.get("content", ""))
                if result.get("is_error") or text.startswith(("error", "rejected")):
                    self.failures[path] = self.failures.get(path, 0) + 1
                else:
                    self.written.add(path)
                    self.contents[path] = str(block["input"].get("content", ""))

    def feedback(self) -> list[str]:
        """People's messages and their answers to this agent's questions, oldest first."""
        return [text for m in self.messages if m["role"] == "user" for text in _feedback_texts(m)] + self.answers

    def latest_answer(self) -> bool:
        """True when the newest user turn carries the answer to a question."""
        last_user = next((m for m in reversed(self.messages) if m["role"] == "user"), None)
        content = last_user["content"] if last_user and isinstance(last_user["content"], list) else []
        return any(b.get("type") == "tool_result" and b.get("tool_use_id") in self._answer_ids for b in content)

    def latest_feedback(self) -> list[str]:
        last_user = next((m for m in reversed(self.messages) if m["role"] == "user"), None)
        return _feedback_texts(last_user) if last_user else []

    def percent(self, files: list) -> int:
        return min(95, 5 + round(90 * len(self.written) / max(1, len(files))))


def _answer_text(result: str) -> str:
    """The person's words back out of an `ask_human` result ("Answer from NAME (quoted user text): "…"")."""
    raw = result.split("(quoted user text): ", 1)[-1]
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def _feedback_texts(message: dict) -> list[str]:
    """The people's words in a user turn's feedback blocks (quoted by the engine as JSON strings)."""
    if not isinstance(message.get("content"), list):
        return []
    texts = [feedback_text(b.get("text", "")) for b in message["content"] if b.get("type") == "text"]
    return [text for text in texts if text is not None]
