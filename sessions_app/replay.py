"""The event log read as pre-rendered JSON: the one replay path behind SSE, the websocket and `GET …/events/`.

A page is one keyset query (`seq > after ORDER BY seq LIMIT n`) of plain columns, `run`'s public id joined in
and `data` read as text (PostgreSQL's jsonb output, SQLite's stored text), spliced into the event's JSON without
building a model or a dict per row. The text parses to exactly `events.event_payload` of the same row.
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii

from django.db.models import TextField
from django.db.models.functions import Cast

from sessions_app.epic_visibility import ChildrenView
from sessions_app.live import Rendered
from sessions_app.models import SessionEvent

_COLUMNS = ("seq", "type", "run__public_id", "actor_kind", "actor_ref", "actor_name", "at", "data_text")


def _quote(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def events_rendered(*, session_pk: int, session_public_id: str, after: int, limit: int) -> list[Rendered]:
    """The next `limit` events after `after`, in seq order, each as its JSON text."""
    rows = (
        SessionEvent.objects.filter(session_id=session_pk, seq__gt=after)
        .annotate(data_text=Cast("data", output_field=TextField()))
        .order_by("seq")
        .values_list(*_COLUMNS)[:limit]
    )
    head = ',"session":' + _quote(session_public_id) + ',"run":'
    # types, run ids and actors repeat: each is quoted once per page
    types: dict[str, str] = {}
    runs: dict[str | None, str] = {}
    actors: dict[tuple[str, str, str], str] = {}
    out: list[Rendered] = []
    for seq, type_, run, kind, ref, name, at, data in rows:
        if (rendered_type := types.get(type_)) is None:
            rendered_type = types[type_] = _quote(type_)
        if (rendered_run := runs.get(run)) is None:
            rendered_run = runs[run] = _quote(run)
        if (rendered_actor := actors.get((kind, ref, name))) is None:
            rendered_actor = actors[kind, ref, name] = (
                '{"kind":' + _quote(kind) + ',"id":' + _quote(ref) + ',"name":' + _quote(name) + "}"
            )
        text = (
            '{"seq":' + str(seq) + ',"type":' + rendered_type + head + rendered_run + ',"actor":' + rendered_actor
            + ',"at":"' + at.isoformat() + '","data":' + data + "}"
        )  # fmt: skip
        out.append(Rendered(seq, type_, text))
    return out


def redacted(events: list[Rendered], view: ChildrenView) -> list[Rendered]:
    """A guest's copy (`epic_visibility`): the only path that parses and renders an event again."""
    return [Rendered.of(view.event(event.payload())) for event in events]


def page_json(*, session_public_id: str, last_seq: int, events: list[Rendered]) -> str:
    """`GET …/events/`'s body: the page's texts joined, not re-encoded."""
    return (
        '{"session":'
        + _quote(session_public_id)
        + ',"last_seq":'
        + str(int(last_seq))
        + ',"events":['
        + ",".join(event.text for event in events)
        + "]}"
    )
