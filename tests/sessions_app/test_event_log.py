"""The event log: per-session seq, gap-free and unique under concurrent writers, published only after commit."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from sessions_app.events import Actor, event_record
from sessions_app.models import DevelopmentSession, SessionEvent


@pytest.fixture
def session(cast, acme):  # noqa: ANN001, ANN201
    return DevelopmentSession.objects.create(organization=acme, created_by=cast["member"], intent="build a chat app")


@pytest.mark.django_db(transaction=True)
def test_it_numbers_events_without_gaps_under_8_concurrent_writers(session):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are the point; SQLite serialises writers anyway")
    writers, per_writer = 8, 50
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    event_record(session=session, type="test.written", actor=Actor.system(), data={"w": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    seqs = list(SessionEvent.objects.filter(session=session).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
    assert DevelopmentSession.objects.get(pk=session.pk).last_event_seq == writers * per_writer
    per_writer_order = {}
    for event in SessionEvent.objects.filter(session=session).order_by("seq"):
        per_writer_order.setdefault(event.data["w"], []).append(event.data["i"])
    assert all(order == list(range(per_writer)) for order in per_writer_order.values())


def test_a_rolled_back_event_leaves_no_gap_and_is_never_published(session, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        event_record(session=session, type="test.doomed", actor=Actor.system())
        raise RuntimeError("the change failed")
    assert callbacks == []
    event = event_record(session=session, type="test.kept", actor=Actor.system())
    assert event.seq == 1


def test_a_full_save_of_a_stale_session_does_not_move_the_counter_back(session):
    stale = DevelopmentSession.objects.get(pk=session.pk)
    event_record(session=session, type="test.one", actor=Actor.system())
    event_record(session=session, type="test.two", actor=Actor.system())

    stale.intent = "build a better chat app"
    stale.save()

    assert DevelopmentSession.objects.get(pk=session.pk).last_event_seq == 2
    assert event_record(session=session, type="test.three", actor=Actor.system()).seq == 3


def test_the_payload_has_the_contract_shape(session, cast):
    event = event_record(session=session, type="feedback.submitted", actor=Actor.for_user(cast["lead"]), data={"x": 1})
    from sessions_app.events import event_payload

    payload = event_payload(event, session_public_id=session.public_id, run_public_id=None)
    assert payload["seq"] == 1 and payload["session"].startswith("dev_") and payload["run"] is None
    assert payload["actor"] == {"kind": "user", "id": "lead", "name": "lead"}
    assert payload["type"] == "feedback.submitted" and payload["data"] == {"x": 1} and "T" in payload["at"]
