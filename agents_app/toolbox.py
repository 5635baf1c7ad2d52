"""Carrying out one step's tool calls inside the step's (fenced) transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from agents_app.llm.base import ToolCall
from agents_app.models import AgentPolicy, AgentRun, ApprovalTrigger, ConflictHandling, RunStatus
from agents_app.services import conflicts
from agents_app.services.approvals import approval_request
from agents_app.services.conversation import question_ask
from agents_app.tools import ALWAYS, TOOL_SPECS
from artifacts_app.selectors import inherited_contents, latest_content, latest_numbers
from artifacts_app.services import WriteTarget, artifact_write, normalise_path, write_target
from sessions_app.errors import DomainError
from sessions_app.events import Actor, event_record
from sessions_app.models import ApprovalRequest
from sessions_app.services.audit import audit_record


@dataclass
class StepOutcome:
    tool_results: list[dict] = field(default_factory=list)
    finished: bool = False
    parked: bool = False  # waiting for an approval or an answer


def needs_approval(run: AgentRun, policy: AgentPolicy) -> bool:
    triggers = set(policy.approval_triggers or AgentPolicy.default_triggers())
    if ApprovalTrigger.ANY_WRITE in triggers:
        return True
    return ApprovalTrigger.RESTRICTED_AGENT_WRITE in triggers and run.agent.restricted


class Toolbox:
    """Runs tool calls for one agent step. `checkpoint` is mutated (seen versions, pending approval)."""

    def __init__(
        self, run: AgentRun, checkpoint: dict, policy: AgentPolicy, step: int, checked: dict[str, dict] | None = None
    ) -> None:
        self.run, self.checkpoint, self.policy, self.step = run, checkpoint, policy, step
        self.checked = checked or {}  # run_checks reports, by tool call id (run before the step's transaction)
        self.actor = Actor.for_agent(run.agent.slug, run.agent.name)
        self.allowed = set(run.agent.tools) | ALWAYS
        self._conflict_lock_held = False

    def run_calls(self, calls: list[ToolCall]) -> StepOutcome:
        outcome = StepOutcome()
        for call in calls:
            if outcome.parked or outcome.finished:
                outcome.tool_results.append(_result(call.id, "not run: an earlier call in this step must settle first"))
                continue
            result = self._one(call, outcome)
            if result is not None:  # a parked call gets its result when the lead decides
                outcome.tool_results.append(result)
        return outcome

    def _one(self, call: ToolCall, outcome: StepOutcome) -> dict | None:
        if call.name not in TOOL_SPECS:
            return self._refuse(call, f"unknown tool {call.name!r}; the tools are {sorted(self.allowed)}")
        if call.name not in self.allowed:
            return self._refuse(call, f"tool {call.name!r} is not available to {self.run.agent.slug}")
        handler = getattr(self, f"_tool_{call.name}")
        try:
            return handler(call, outcome)
        except DomainError as exc:
            if "path" in (exc.errors or {}):
                return self._refuse(call, exc.detail)
            return _result(call.id, f"error: {exc.detail}", True)
        except (KeyError, TypeError, ValueError) as exc:
            return _result(call.id, f"error: bad arguments for {call.name}: {exc}", True)

    def _refuse(self, call: ToolCall, reason: str) -> dict:
        """A call the agent may not make: it learns why, the team sees it, the audit trail keeps it."""
        tool, reason = _safe(call.name[:80]), _safe(reason[:500])
        data = {"agent": self.run.agent.slug, "tool": tool, "reason": reason, "step": self.step}
        event_record(session=self.run.session, type="agent.tool_refused", actor=self.actor, run=self.run, data=data)
        audit_record(
            actor=None,
            organization=self.run.session.organization,
            action="agent.tool_refused",
            target=self.run,
            before=None,
            after={**data, "session": self.run.session.public_id, "input": _preview(call.input)},
        )
        return _result(call.id, f"refused: {reason}", True)

    def _tool_list_files(self, call: ToolCall, outcome: StepOutcome) -> dict:
        """The session's files, then (for an epic's child) what its completed siblings wrote."""
        files = latest_numbers(session=self.run.session)
        lines = [f"{path} (v{number})" for path, number in sorted(files.items())]
        inherited = {p: v for p, v in inherited_contents(session=self.run.session).items() if p not in files}
        lines += [f"{path} (v{number}, from {source})" for path, (number, _, source) in sorted(inherited.items())]
        return _result(call.id, "\n".join(lines) or "(empty)")

    def _tool_read_file(self, call: ToolCall, outcome: StepOutcome) -> dict:
        path = normalise_path(str(call.input["path"]))
        latest = latest_content(session=self.run.session, path=path)
        if latest is not None:
            number, content = latest
            self.checkpoint.setdefault("seen", {})[path] = number
            return _result(call.id, content)
        inherited = inherited_contents(session=self.run.session).get(path)
        if inherited is not None:
            number, content, source = inherited
            return _result(call.id, f"(v{number} from {source}; writing it makes this session's own copy)\n{content}")
        return _result(call.id, f"error: {path} does not exist", True)

    def _tool_write_file(self, call: ToolCall, outcome: StepOutcome) -> dict | None:
        path, content = normalise_path(str(call.input["path"])), str(call.input["content"])
        self._lock_conflicts()
        # refused before any approval; with the other sessions that wrote the path, in the same read
        target = write_target(session=self.run.session, path=path, actor=self.actor, other_writers=True)
        if needs_approval(self.run, self.policy) and not self._approved(call):
            self._park(
                call,
                outcome,
                action="write_file",
                summary=f"{self.run.agent.name} wants to write {path}",
                details={"path": path, "content": content},
            )
            return None
        others = [] if self._approved(call) else target.other_writers
        if others and not conflicts.already_flagged(self.run.session, path):
            if self.policy.cross_session_conflicts == ConflictHandling.BLOCK:
                summary, details = conflicts.conflict_details(self.run.session, path, others)
                approval = self._park(
                    call, outcome, action=conflicts.ACTION, summary=summary, details={**details, "content": content}
                )
                conflicts.conflict_record(run=self.run, path=path, others=others, actor=self.actor, approval=approval)
                return None
            conflicts.conflict_record(run=self.run, path=path, others=others, actor=self.actor, approval=None)
        return self._write(call.id, path, content, call.input.get("kind"), target)

    def _lock_conflicts(self) -> None:
        """The organisation's conflict lock, once per step (held to commit), before the read that looks for other
        writers: two sessions writing one path at once cannot both miss each other."""
        if not self._conflict_lock_held:
            conflicts.lock_organization(self.run.session.organization_id)
            self._conflict_lock_held = True

    def _write(
        self, call_id: str, path: str, content: str, kind: str | None, target: WriteTarget | None = None
    ) -> dict:
        seen = self.checkpoint.setdefault("seen", {})
        result = artifact_write(
            session=self.run.session,
            path=path,
            content=content,
            actor=self.actor,
            base_number=seen.get(path, 0),
            kind=kind,
            author_run=self.run,
            author_step=self.step,
            target=target,
        )
        seen[result.artifact.path] = result.latest_number
        if result.outcome == "conflict":
            current = latest_content(session=self.run.session, path=result.artifact.path) or (0, "")
            return _result(
                call_id,
                f"error: conflict — {result.artifact.path} was changed by someone else (now v{result.latest_number}) "
                f"since you last saw it. Its current content follows; merge your change and write again.\n{current[1]}",
                True,
            )
        return _result(call_id, f"ok: {result.artifact.path} is now v{result.latest_number} ({result.outcome})")

    def _tool_run_checks(self, call: ToolCall, outcome: StepOutcome) -> dict:
        report = self.checked.get(call.id)
        if report is None:
            return _result(call.id, "error: the checks did not run for this call; call run_checks again", True)
        compact = {
            "status": report.get("status"),
            "summary": report.get("summary") or report.get("reason", ""),
            "checks": [
                {
                    "tool": c.get("tool"),
                    "status": c.get("status"),
                    "counts": c.get("counts", {}),
                    "findings": c.get("findings", [])[:20],
                    **({"output_tail": c.get("output_tail", "")[-1500:]} if c.get("status") != "passed" else {}),
                }
                for c in report.get("checks", [])
            ],
        }
        return _result(call.id, json.dumps(compact, ensure_ascii=False), report.get("status") == "failed")

    def _tool_request_approval(self, call: ToolCall, outcome: StepOutcome) -> None:
        self._park(call, outcome, action=str(call.input["action"])[:60], summary=str(call.input["summary"]), details={})

    def _tool_ask_human(self, call: ToolCall, outcome: StepOutcome) -> dict | None:
        """Park on a question to the people; the answer becomes this call's result (`question_settle`)."""
        question = _safe(str(call.input["question"])).strip()
        if not question:
            return _result(call.id, "error: ask_human needs a question (it was empty)", True)
        message = question_ask(run=self.run, question=question, actor=self.actor)
        self.checkpoint["pending"] = {
            "question": message.public_id,
            "tool_use_id": call.id,
            "tool": call.name,
            "input": call.input,
        }
        outcome.parked = True
        return None

    def _tool_report_progress(self, call: ToolCall, outcome: StepOutcome) -> dict:
        percent = max(0, min(100, int(call.input.get("percent", 0))))
        message = str(call.input.get("message", ""))[:200]
        self.run.progress, self.run.current_activity = max(self.run.progress, percent), message
        event_record(
            session=self.run.session,
            type="agent.progress",
            actor=self.actor,
            run=self.run,
            data={"agent": self.run.agent.slug, "progress": self.run.progress, "message": message, "step": self.step},
        )
        return _result(call.id, "ok")

    def _tool_finish(self, call: ToolCall, outcome: StepOutcome) -> dict:
        self.run.summary = str(call.input.get("summary", ""))[:4000]
        self.run.status, self.run.progress, self.run.finished_at = RunStatus.COMPLETED, 100, timezone.now()
        self.run.current_activity = "done"
        outcome.finished = True
        return _result(call.id, "ok: finished")

    # -- approvals -----------------------------------------------------------------------------

    def _approved(self, call: ToolCall) -> bool:
        """True when this exact call was parked before and a lead approved it."""
        decided = self.checkpoint.get("decided") or {}
        return decided.get(call.id) == "approved"

    def _park(
        self, call: ToolCall, outcome: StepOutcome, *, action: str, summary: str, details: dict[str, Any]
    ) -> ApprovalRequest:
        approval = approval_request(run=self.run, action=action, summary=summary, details=details, actor=self.actor)
        self.checkpoint["pending"] = {
            "approval": approval.public_id,
            "tool_use_id": call.id,
            "tool": call.name,
            "input": call.input,
        }
        outcome.parked = True
        return approval

    def settle_pending(self, decision: str, comment: str) -> dict:
        """After a decision: carry out (or refuse) the parked call and give the agent its result."""
        pending = self.checkpoint.pop("pending")
        self.checkpoint.setdefault("decided", {})[pending["tool_use_id"]] = decision
        note = f" Comment: {comment}" if comment else ""
        if decision != "approved":
            return _result(pending["tool_use_id"], f"rejected by a lead.{note} Do not do this; adapt your plan.", True)
        if pending["tool"] == "write_file":
            data = pending["input"]
            try:
                result = self._write(pending["tool_use_id"], str(data["path"]), str(data["content"]), data.get("kind"))
            except DomainError as exc:  # e.g. the path now clashes with a file written while the call waited
                call = ToolCall(pending["tool_use_id"], "write_file", data)
                refused = "path" in exc.errors
                result = self._refuse(call, exc.detail) if refused else _result(call.id, f"error: {exc.detail}", True)
            result["content"] = f"approved.{note} " + result["content"]
            return result
        return _result(pending["tool_use_id"], f"approved.{note} Go ahead.")


def _preview(tool_input: dict) -> dict:
    return {
        _safe(str(k)): _safe(v[:200] + "…" if len(v) > 200 else v) if isinstance(v, str) else v
        for k, v in dict(tool_input).items()
    }


def _safe(text: str) -> str:
    """PostgreSQL's JSON cannot hold NUL: a refused call that carried one is still recorded."""
    return text.replace("\x00", "\ufffd")


def _result(tool_use_id: str, text: str, is_error: bool = False) -> dict:
    block = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
    if is_error:
        block["is_error"] = True
    return block
