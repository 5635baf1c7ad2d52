"""Analytics count how sessions' checks ended (their latest check) and list failed gates as a failure pattern."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from agents_app.models import VerificationRun
from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession


def session_with_checks(acme, user, *statuses: str) -> DevelopmentSession:  # noqa: ANN001
    session = DevelopmentSession.objects.create(organization=acme, created_by=user, intent="build", status="completed")
    for age, status in enumerate(reversed(statuses)):  # the last status given is the latest check
        check = VerificationRun.objects.create(session=session, status=status)
        VerificationRun.objects.filter(pk=check.pk).update(created_at=timezone.now() - timedelta(minutes=age))
    return session


def test_it_reports_the_checks_pass_rate_from_each_sessions_latest_check(api, cast, acme):
    session_with_checks(acme, cast["member"], "failed", "passed")  # repaired: counts as passed
    session_with_checks(acme, cast["member"], "passed")
    session_with_checks(acme, cast["member"], "failed")
    session_with_checks(acme, cast["member"], "not_verified")
    DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="unchecked")

    data = api(cast["lead"]).get("/api/v1/analytics/", {"organization": "acme", "since": "7d"}).json()

    verification = data["verification"]
    assert verification["checked_sessions"] == 4
    assert verification["by_status"]["passed"] == 2 and verification["by_status"]["failed"] == 1
    assert verification["by_status"]["not_verified"] == 1
    assert verification["pass_rate"] == round(2 / 3, 3)


def test_a_failed_gate_is_a_verification_failure_pattern(api, cast, acme):
    session = session_with_checks(acme, cast["member"], "failed")
    event_record(
        session=session, type="session.failed", actor=Actor.system(), data={"category": "verification", "summary": "x"}
    )
    event_record(session=session, type="session.failed", actor=Actor.system(), data={"category": "other"})

    data = api(cast["lead"]).get("/api/v1/analytics/", {"organization": "acme", "since": "7d"}).json()

    assert [(f["category"], f["count"]) for f in data["failures"]] == [("verification", 1)]
