"""Issue 14 (9d): `share/` told a session's owner whether any username existed on the platform (a 400 for
"no such user", a 200 for another organisation's member). Now a member of organisations the sharer is not in
gets exactly the answer a missing username gets; guests without an organisation and the sharer's co-members
can still be invited. From the UI issue: sharing again at the same level records nothing; a level change is
one event and one audit entry."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from sessions_app.models import AuditEntry, DevelopmentSession, Membership, Organization, SessionEvent


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="x", status="running")


def share(api, user, session, username, level="view"):  # noqa: ANN001, ANN201
    body = {"username": username, "level": level}
    return api(user).post(f"/api/v1/sessions/{session.public_id}/share/", body, format="json")


def records(session: DevelopmentSession) -> tuple[int, int]:
    events = SessionEvent.objects.filter(session=session, type__startswith="session.").exclude(type="session.created")
    return events.count(), AuditEntry.objects.filter(action__startswith="session.").count()


def test_it_probes_usernames_via_share(cast, api, session):
    """`outsider` exists (a member of globex, which member is not in); `nobody-here` does not."""
    exists = share(api, cast["member"], session, "outsider")
    missing = share(api, cast["member"], session, "nobody-here")

    assert exists.status_code == missing.status_code == 400
    assert exists.json()["detail"].replace("outsider", "X") == missing.json()["detail"].replace("nobody-here", "X")
    assert exists.json()["errors"] == missing.json()["errors"] == {
        "username": ["No one you can share with has this username."]
    }
    assert records(session) == (0, 0)
    assert not cast["outsider"].has_perm("sessions_app.view_developmentsession", session)


def test_it_probes_usernames_via_unshare(cast, api, session):
    url = f"/api/v1/sessions/{session.public_id}/unshare/"
    answers = [api(cast["member"]).post(url, {"username": name}, format="json") for name in ("outsider", "nobody-x")]

    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json()["detail"].replace("outsider", "X") == answers[1].json()["detail"].replace("nobody-x", "X")


def test_a_guest_account_and_a_co_member_can_still_be_invited(cast, api, session, acme):
    globex = Organization.objects.get(slug="globex")
    Membership.objects.create(organization=globex, user=cast["member"], role="member")  # member knows globex

    assert share(api, cast["member"], session, "guest").status_code == 200
    assert share(api, cast["member"], session, "outsider").status_code == 200
    assert cast["outsider"].has_perm("sessions_app.view_developmentsession", session)
    assert share(api, cast["member"], session, "lead").status_code == 409  # sees it already, as before


def test_an_inactive_user_looks_missing(cast, api, session):
    get_user_model().objects.filter(username="guest").update(is_active=False)

    response = share(api, cast["member"], session, "guest")

    assert response.status_code == 400 and response.json()["errors"]["username"]


def test_it_shares_the_same_person_twice(cast, api, session):
    assert share(api, cast["member"], session, "guest").status_code == 200
    assert records(session) == (1, 1)

    again = share(api, cast["member"], session, "guest")

    assert again.status_code == 200 and again.json() == {"shared_with": "guest", "level": "view"}
    assert records(session) == (1, 1)

    assert share(api, cast["member"], session, "guest", "collaborate").status_code == 200
    assert records(session) == (2, 2)
    changed = SessionEvent.objects.filter(session=session, type="session.shared").order_by("seq").last()
    assert changed.data == {"user": "guest", "level": "collaborate"}
    assert AuditEntry.objects.filter(action="session.shared").order_by("id").last().before["level"] == "view"
    assert cast["guest"].has_perm("sessions_app.collaborate_developmentsession", session)
