"""Two sessions of acme build the same app at the same time on the real worker: every path both write is its own
approval in each session, the card says what Approve and Reject do (and does it), links the other session only for
someone who may see it, shows the diff, and what nobody decided expires with a reason once both have finished."""

from __future__ import annotations

from agents_app.models import AgentPolicy, ConflictHandling
from agents_app.services.approvals import approval_decide
from artifacts_app.models import ArtifactVersion
from sessions_app.models import ApprovalRequest, DevelopmentSession, SessionEvent
from sessions_app.services.collaboration import session_share
from tests.support import wait_for, wait_for_status

ACTION = "cross_session_conflict"
INTENT = "build a chat app"
REASON = "both sessions finished before anyone decided; both versions stand in their own sessions"


def shared_paths(a: DevelopmentSession, b: DevelopmentSession) -> set[str]:
    """Paths both sessions' agents wrote (the checks report is the platform's, not a write that can conflict)."""
    written = [set(s.artifacts.exclude(path__startswith=".harness/").values_list("path", flat=True)) for s in (a, b)]
    return written[0] & written[1]


def listed_paths(session: DevelopmentSession) -> set[str]:
    return {p for d in ApprovalRequest.objects.filter(session=session, action=ACTION).values_list("details", flat=True)
            for p in d["paths"]}  # fmt: skip


def nothing_pending() -> bool:
    """Expiry runs right after the last of the two sessions commits its end: poll for it, with a deadline."""
    return not ApprovalRequest.objects.filter(status="pending").exists()


def test_it_puts_every_shared_path_to_a_lead_in_both_sessions_and_expires_what_nobody_decided(worker, start, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.05
    first, second = start(user="member", intent=INTENT), start(user="lead", intent=INTENT)
    first, second = (wait_for_status(s, "completed", "failed", timeout=180) for s in (first, second))
    assert first.status == second.status == "completed", "flagging does not stop either writer"
    wait_for(nothing_pending, timeout=30, what="undecided conflicts to expire")

    shared = shared_paths(first, second)
    assert len(shared) >= 9, shared
    for session, other in ((first, second), (second, first)):
        approvals = list(ApprovalRequest.objects.filter(session=session, action=ACTION))
        assert listed_paths(session) == shared, f"{session.public_id} is missing {shared - listed_paths(session)}"
        assert {a.details["other"] for a in approvals} == {other.public_id}
        assert sorted(a.details["path"] for a in approvals) == sorted(shared), "one approval per conflicting path"
        for expired in approvals:
            assert expired.details["paths"] == [expired.details["path"]]
            assert expired.status == "expired" and expired.decided_by is None, "nothing is left pending"
            assert REASON in expired.comment
            event = SessionEvent.objects.get(session=session, type="approval.decided", data__approval=expired.public_id)
            assert event.actor_kind == "system" and event.data["decision"] == "expired"
            assert event.data["reason"] == REASON


def test_the_card_says_what_approve_does_links_the_other_session_and_shows_the_diff(worker, start, cast, api, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.3
    mine, theirs = start(user="member", intent=INTENT), start(user="lead", intent=INTENT + " with threads")
    session_share(user=cast["member"], session=mine, username="guest", level="view")

    pending = wait_for(
        lambda: ApprovalRequest.objects.filter(session=mine, action=ACTION, status="pending").first(),
        timeout=120, what="a conflict approval in the member's session",
    )  # fmt: skip
    card = next(a for a in api(cast["lead"]).get(f"/api/v1/sessions/{mine.public_id}/approvals/").json()
                if a["id"] == pending.public_id)  # fmt: skip
    conflict = card["conflict"]
    assert conflict["mode"] == "flag"
    assert conflict["approve"].startswith(f"Approve: this session's version of {pending.details['path']}")
    assert "keeps its own" in conflict["approve"]
    assert [f["path"] for f in conflict["files"]] == [pending.details["path"]], "one path per card"
    assert conflict["sessions"][0]["web_url"] == f"/development/{theirs.public_id}/"
    written = [f for f in conflict["files"] if f["this_version"] and f["other_version"]]
    assert written and all(f["diff"] for f in written)
    assert f"{theirs.public_id} {written[0]['path']} v{written[0]['other_version']}" in written[0]["diff"]

    guest_view = api(cast["guest"]).get(f"/api/v1/sessions/{mine.public_id}/approvals/").json()
    guest_card = next(a for a in guest_view if a["id"] == pending.public_id)
    assert guest_card["conflict"]["sessions"] == [
        {"id": None, "intent": None, "status": None, "web_url": None, "label": "another session in your organisation"}
    ]
    assert theirs.public_id not in str(guest_card) and "threads" not in str(guest_card)
    assert not any("diff" in f or f["other_version"] for f in guest_card["conflict"]["files"])

    decided = api(cast["lead"]).post(f"/api/v1/approvals/{pending.public_id}/decide/", {"decision": "approve"})
    assert decided.status_code == 200, decided.json()
    for session in (mine, theirs):
        wait_for_status(session, "completed", "failed", timeout=180)
    wait_for(nothing_pending, timeout=30, what="undecided conflicts to expire")
    pending.refresh_from_db()
    assert pending.status == "approved" and pending.decided_by == cast["lead"], "the lead's decision is kept"
    assert listed_paths(mine) == shared_paths(mine, theirs), "paths found after the decision got their own approval"
    others = ApprovalRequest.objects.filter(session=mine, action=ACTION).exclude(pk=pending.pk)
    assert others and {a.status for a in others} == {"expired"}


def test_under_a_blocking_policy_approve_writes_this_version_and_reject_drops_it(worker, start, cast, acme, settings):
    settings.HARNESS_OFFLINE_STEP_SECONDS = 0.05
    AgentPolicy.objects.update_or_create(
        organization=acme, defaults={"cross_session_conflicts": ConflictHandling.BLOCK}
    )
    approving, rejecting = start(user="member", intent=INTENT), start(user="lead", intent=INTENT)
    decided = {}

    def decide_what_waits() -> bool:
        for approval in ApprovalRequest.objects.filter(action=ACTION, status="pending").select_related("session"):
            decision = "approve" if approval.session_id == approving.pk else "reject"
            assert approval.details["mode"] == "block" and len(approval.details["paths"]) == 1
            approval_decide(user=cast["lead"], approval=approval, decision=decision, comment="")
            decided[approval.pk] = decision
        both = DevelopmentSession.objects.filter(pk__in=[approving.pk, rejecting.pk])
        statuses = set(both.values_list("status", flat=True))
        return statuses <= {"completed", "failed"}

    wait_for(decide_what_waits, timeout=180, interval=0.2, what="both sessions to finish")
    assert decided, "the two sessions never met on a path"
    for approval in ApprovalRequest.objects.filter(pk__in=decided).select_related("session", "run"):
        path = approval.details["path"]
        versions = ArtifactVersion.objects.filter(artifact__session=approval.session, artifact__path=path)
        if decided[approval.pk] == "approve":
            assert versions.filter(author_run=approval.run, created_at__gt=approval.decided_at).exists(), path
        else:
            # once the other session has finished, writing the path again is no longer a conflict
            other = DevelopmentSession.objects.get(public_id=approval.details["sessions"][0]["id"])
            written = versions.filter(author_run=approval.run, created_at__lt=other.finished_at)
            assert not written.exists(), f"{path} was written after a reject while {other.public_id} still ran"
    wait_for(nothing_pending, timeout=30, what="nothing pending")
