"""The verification phase: after the agents finish, the session's files are checked in a sandbox.

`scheduler.advance` asks `phase_state` once every run has completed: checks are queued when the files
changed since the last check, and the session ends only once a check covered the files as they are.
A check is a `VerificationRun` row, claimed and fenced like an agent run, executed on its own Celery
queue (`HARNESS_VERIFICATION_QUEUE`, a worker with bounded concurrency). Its results are events
(`verification.started`, one `verification.check` per check, `verification.completed`) and a
versioned report file, `.harness/verification.json`. Failing findings go back, as feedback, to the
agent that last wrote each file, for at most the policy's repair rounds; then the session completes
with its checks failed (`report`) or fails with category `verification` (`gate`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents_app import dispatch
from agents_app.heartbeat import beating
from agents_app.models import (
    AgentPolicy,
    AgentRun,
    RunStatus,
    VerificationPolicy,
    VerificationRun,
    VerificationStatus,
)
from agents_app.run_queue import queue_run
from artifacts_app.models import ArtifactVersion
from artifacts_app.selectors import latest_contents
from artifacts_app.services import artifact_write
from sessions_app.events import Actor, event_record, session_lock_row
from sessions_app.models import DevelopmentSession, Feedback

logger = logging.getLogger(__name__)
REPORT_PATH = ".harness/verification.json"
MAX_FINDINGS_IN_FEEDBACK = 12


# --- what the scheduler asks -----------------------------------------------------------------------


def checked_files(session: DevelopmentSession) -> dict[str, tuple[int, str]]:
    """The session's latest files, without Harness's own reports."""
    return {p: v for p, v in latest_contents(session=session).items() if not p.startswith(".harness/")}


def phase_state(session: DevelopmentSession, policy: AgentPolicy) -> tuple[str, VerificationRun | None]:
    """ "off", "needed" (files changed since the last check), "in_flight", or "done" (the latest check
    covered the files as they are; its status says how it went)."""
    if policy.verification == VerificationPolicy.OFF:
        return "off", None
    latest = VerificationRun.objects.filter(session=session).order_by("-created_at", "-id").first()
    if latest is not None and not latest.is_finished():
        return "in_flight", latest
    versions = {path: number for path, (number, _) in checked_files(session).items()}
    if latest is not None and latest.versions == versions:
        return "done", latest
    return "needed", latest


def verification_queue(
    session: DevelopmentSession, *, actor: Actor, requested_by: Any | None = None
) -> VerificationRun:
    """Queue a check of the files as they are now (inside the caller's transaction, session locked)."""
    latest = VerificationRun.objects.filter(session=session).order_by("-created_at", "-id").first()
    round_ = (latest.round + 1 if latest.status == VerificationStatus.FAILED else latest.round) if latest else 0
    versions = {path: number for path, (number, _) in checked_files(session).items()}
    check = VerificationRun.objects.create(
        session=session,
        round=round_,
        requested_by=requested_by,
        versions=versions,
        task_id=dispatch.new_task_id(),
        queued_at=timezone.now(),
    )
    event_record(
        session=session,
        type="verification.queued",
        actor=actor,
        data={"verification": check.public_id, "round": round_, "files": len(versions)},
    )
    dispatch.send_on_commit(dispatch.RUN_VERIFICATION, check.pk, task_id=check.task_id)
    return check


def repair(session: DevelopmentSession, check: VerificationRun, runs: list[AgentRun], policy: AgentPolicy) -> bool:
    """Send failing findings back to the agents that wrote those files; True when a repair round started."""
    if check.repair_sent or check.round >= policy.verification_repair_rounds:
        return False
    findings = [
        {**finding, "tool": result["tool"]}
        for result in check.report.get("checks", [])
        if result.get("status") in ("failed", "error", "timeout")
        for finding in result.get("findings", [])
        if finding.get("path") and finding.get("severity") != "warning"  # lint warnings do not fail a check
    ]
    writers = _last_writers(session, {f["path"] for f in findings}, runs)
    by_run: dict[int, list[dict]] = {}
    for finding in findings:
        if finding["path"] in writers:
            by_run.setdefault(writers[finding["path"]], []).append(finding)
    if not by_run:
        return False
    check.repair_sent = True
    check.save(update_fields=["repair_sent"])
    by_pk = {run.pk: run for run in runs}
    for run_id, run_findings in by_run.items():
        run = by_pk[run_id]
        text = _feedback_text(check, run_findings)
        feedback = Feedback.objects.create(session=session, run=run, author=None, text=text)
        event_record(
            session=session,
            type="feedback.submitted",
            actor=Actor.system(),
            run=run,
            data={"feedback_id": feedback.pk, "text": text, "run": run.public_id, "verification": check.public_id},
        )
        queue_run(
            run,
            actor=Actor.system(),
            data={"repair_round": check.round + 1, "findings": len(run_findings), "verification": check.public_id},
        )
    return True


def _last_writers(session: DevelopmentSession, paths: set[str], runs: list[AgentRun]) -> dict[str, int]:
    """path → the run that wrote its latest version (files a person wrote last have no agent to ask)."""
    run_ids = {run.pk for run in runs if run.status == RunStatus.COMPLETED}
    rows = ArtifactVersion.objects.filter(
        artifact__session=session, artifact__path__in=paths, number=F("artifact__latest_version_number")
    ).values_list("artifact__path", "author_run_id")
    return {path: run_id for path, run_id in rows if run_id in run_ids}


def _feedback_text(check: VerificationRun, findings: list[dict]) -> str:
    lines = [f"The checks failed on files you wrote (round {check.round + 1}); fix them, then finish again:"]
    for finding in findings[:MAX_FINDINGS_IN_FEEDBACK]:
        where = f"{finding['path']}:{finding['line']}" if finding.get("line") else finding["path"]
        code = f" {finding['code']}" if finding.get("code") else ""
        test = f" ({finding['test']})" if finding.get("test") else ""
        lines.append(f"- {finding['tool']}{code} at {where}{test}: {str(finding.get('message', ''))[:300]}")
    if len(findings) > MAX_FINDINGS_IN_FEEDBACK:
        lines.append(f"- and {len(findings) - MAX_FINDINGS_IN_FEEDBACK} more")
    return "\n".join(lines)


# --- the task's body ---------------------------------------------------------------------------------


def verification_claim(verification_id: int, task_id: str) -> int | None:
    with transaction.atomic():
        session_id = VerificationRun.objects.filter(pk=verification_id).values_list("session_id", flat=True).first()
        if session_id is None:
            return None
        session_lock_row(session_id)
        now = timezone.now()
        claimed = VerificationRun.objects.filter(
            pk=verification_id, status=VerificationStatus.QUEUED, task_id=task_id
        ).update(status=VerificationStatus.RUNNING, attempt=F("attempt") + 1, heartbeat_at=now, started_at=now)
        if not claimed:
            return None
        return VerificationRun.objects.values_list("attempt", flat=True).get(pk=verification_id)


def execute(verification_id: int, task_id: str) -> str:
    """Claim the check, run the sandboxed checks over the files it was queued for, record the results."""
    from agents_app.verification import checks  # the sandbox library: no engine imports

    attempt = verification_claim(verification_id, task_id)
    if attempt is None:
        return "not-claimed"
    check = VerificationRun.objects.select_related("session").get(pk=verification_id)
    session = check.session
    files = {path: content for path, (_, content) in checked_files(session).items() if path in check.versions}
    with transaction.atomic():
        event_record(
            session=session,
            type="verification.started",
            actor=Actor.system(),
            data={
                "verification": check.public_id,
                "round": check.round,
                "checks": checks.checks_for(list(files)),
                "sandbox": checks.sandbox_description(),
                "limits": checks.limits_description(),
                "versions": check.versions,
            },
        )
    touch = VerificationRun.objects.filter(pk=verification_id, attempt=attempt, status=VerificationStatus.RUNNING)
    with beating(lambda: touch.update(heartbeat_at=timezone.now()), name=f"verification-{verification_id}"):
        try:
            report = checks.run_checks(files)
        except Exception as exc:  # noqa: BLE001 - a broken checker is a recorded result, never a silent task
            logger.exception("checks of %s broke", session.public_id)
            report = {"status": "not_verified", "reason": f"the checks could not run: {type(exc).__name__}: {exc}"}
    _record(verification_id, attempt, report)
    return report.get("status", "not_verified")


def _record(verification_id: int, attempt: int, report: dict) -> bool:
    with transaction.atomic():
        session_id = VerificationRun.objects.values_list("session_id", flat=True).get(pk=verification_id)
        session_lock_row(session_id)
        check = (
            VerificationRun.objects.select_for_update()
            .select_related("session")
            .filter(pk=verification_id, attempt=attempt, status=VerificationStatus.RUNNING)
            .first()
        )
        if check is None:
            return False  # requeued or superseded meanwhile: someone else records it
        session = check.session
        status = report.get("status") if report.get("status") in VerificationStatus.values else "not_verified"
        summary = str(report.get("summary") or report.get("reason") or status)[:300]
        report = {**report, "verification": check.public_id, "round": check.round, "versions": check.versions}
        for result in report.get("checks", []):
            event_record(
                session=session,
                type="verification.check",
                actor=Actor.system(),
                data={"verification": check.public_id, **result, "findings": result.get("findings", [])[:50]},
            )
        existing = latest_contents(session=session).get(REPORT_PATH, (0, ""))[0]
        artifact_write(
            session=session,
            path=REPORT_PATH,
            content=json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            actor=Actor.system(),
            base_number=existing,
            kind="docs",
        )
        check.status, check.summary, check.report = status, summary, report
        check.finished_at = timezone.now()
        check.save(update_fields=["status", "summary", "report", "finished_at"])
        event_record(
            session=session,
            type="verification.completed",
            actor=Actor.system(),
            data={
                "verification": check.public_id,
                "status": status,
                "passed": status == VerificationStatus.PASSED,
                "summary": summary,
                "round": check.round,
                "reason": report.get("reason", ""),
            },
        )
        dispatch.send_on_commit(dispatch.ADVANCE_SESSION, session.pk)  # the scheduler decides what follows
    return True


def verification_requeue(check: VerificationRun, *, reason: str) -> None:
    """A check whose worker was lost goes back in the queue under a new task id (inside a transaction)."""
    check.status, check.task_id, check.queued_at = VerificationStatus.QUEUED, dispatch.new_task_id(), timezone.now()
    check.save(update_fields=["status", "task_id", "queued_at"])
    event_record(
        session=check.session,
        type="verification.queued",
        actor=Actor.system(),
        data={"verification": check.public_id, "round": check.round, "reason": reason},
    )
    dispatch.send_on_commit(dispatch.RUN_VERIFICATION, check.pk, task_id=check.task_id)
