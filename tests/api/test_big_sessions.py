"""Big sessions stay fast (issue 16, item 5): a session of 10,000 events and 500 files costs the session page and
`GET sessions/{id}/` the same queries as a small one (STYLE #13), the page still shows the latest events and every
file, an artifact's versions come in pages without their contents unless asked, and the export is streamed."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from artifacts_app.models import ArtifactVersion
from tests.big_session import make_big_session


def queries(get, url: str) -> int:  # noqa: ANN001
    get(url)  # warm process-wide caches (content types, permissions) so both sizes compare alike
    with CaptureQueriesContext(connection) as captured:
        response = get(url)
    assert response.status_code == 200, response.content[:300]
    return len(captured)


def initial_of(response) -> dict:  # noqa: ANN001
    html = response.content.decode()
    return json.loads(re.search(r'<script id="initial" type="application/json">(.*?)</script>', html, re.S)[1])


@pytest.fixture
def sizes(cast, acme):  # noqa: ANN001, ANN201
    small = make_big_session(organization=acme, user=cast["member"], events=20, files=3, intent="small")
    big = make_big_session(organization=acme, user=cast["member"], events=10_000, files=500, intent="big")
    return small, big


def test_the_page_and_the_detail_cost_the_same_queries_for_a_small_and_a_big_session(sizes, cast, api, client):
    small, big = sizes
    client.force_login(cast["member"])
    member = api(cast["member"])
    for name, get, url in (
        ("the session page", client.get, "/development/{}/"),
        ("GET sessions/{id}/", member.get, "/api/v1/sessions/{}/"),
    ):
        counts = [queries(get, url.format(s.session.public_id)) for s in (small, big)]
        assert counts[0] == counts[1], (
            f"{name}: {counts[0]} queries for 20 events and 3 files, {counts[1]} for 10,000/500"
        )


def test_the_page_shows_the_latest_events_and_every_file_and_goes_live_after_them(sizes, cast, client):
    _, big = sizes
    client.force_login(cast["member"])

    response = client.get(f"/development/{big.session.public_id}/")

    page = initial_of(response)["page"]
    assert page["after"] == 10_000  # the stream replays nothing older
    # The generator wrote 1,500 artifact events first, then progress: progress is not in the feed.
    assert [e["seq"] for e in page["feed"]] == list(range(1401, 1501))
    assert page["feed"][-1]["type"] == "artifact.updated" and page["feed"][-1]["run"].startswith("run_")
    assert set(page["feed"][-1]) == {"seq", "type", "session", "run", "actor", "at", "data"}  # the contract's shape
    assert set(page["files"]) == set(big.contents)
    assert len(page["files"]) == 500
    one = big.artifacts[7]
    assert page["files"][one.path] == {
        "id": one.public_id,
        "version": 3,
        "kind": "code",
        "authors": [f"agent:{big.runs[7 % 3].agent.slug}"],
    }
    assert page["approvals"] == {} and page["shares"] == {}
    assert response.content.decode().count('id="feed"') == 1


def test_the_feed_stops_at_the_seq_the_page_goes_live_after(cast, acme):
    """An event written after the session row was read is not in the feed: the stream brings it, once."""
    big = make_big_session(organization=acme, user=cast["member"], events=30, files=2)
    big.session.last_event_seq = 4  # as if read before events 5… committed
    from sessions_app.selectors import event_feed

    assert [e.seq for e in event_feed(session=big.session)] == [1, 2, 3, 4]


def test_a_persons_edit_and_a_pending_approval_show_on_the_page(cast, acme, client):
    from sessions_app.models import ApprovalRequest

    small = make_big_session(organization=acme, user=cast["member"], events=10, files=2, versions=1)
    artifact = small.artifacts[0]
    ArtifactVersion.objects.create(
        artifact=artifact, number=2, content="edited\n", sha256="0", author_kind="user", author_user=cast["member"]
    )
    approval = ApprovalRequest.objects.create(
        session=small.session, run=small.runs[0], action="write_file", summary="may I?"
    )
    client.force_login(cast["lead"])

    page = initial_of(client.get(f"/development/{small.session.public_id}/"))["page"]

    assert page["files"][artifact.path]["authors"] == [f"agent:{small.runs[0].agent.slug}", "person:member"]
    assert page["approvals"] == {
        approval.public_id: {"summary": "may I?", "status": "pending", "agent": small.runs[0].agent.slug}
    }


# --- GET artifacts/{id}/versions/ ---------------------------------------------------------------------------------


@pytest.fixture
def many_versions(cast, acme):  # noqa: ANN001, ANN201
    return make_big_session(organization=acme, user=cast["member"], events=120, files=1, versions=120, lines=30)


def test_versions_come_in_pages_oldest_first_without_contents(many_versions, cast, api):
    member = api(cast["member"])
    artifact = many_versions.artifacts[0]
    url = f"/api/v1/artifacts/{artifact.public_id}/versions/"

    first = member.get(url).json()

    assert set(first) == {"next", "previous", "results"}
    assert first["previous"] is None and first["next"]
    assert [v["number"] for v in first["results"]] == list(range(1, 51))
    v2 = first["results"][1]
    stored = ArtifactVersion.objects.get(artifact=artifact, number=2)
    assert "content" not in v2
    assert v2["parent"] == 1 and v2["sha256"] == stored.sha256 and v2["diff"] == stored.diff
    assert v2["size"] == len(stored.content.encode())
    assert v2["author"] == {"kind": "agent", "name": stored.author_run.agent.slug, "run": stored.author_run.public_id}
    numbers, page = [], first
    while True:
        numbers += [v["number"] for v in page["results"]]
        if not page["next"]:
            break
        page = member.get(page["next"]).json()
    assert numbers == list(range(1, 121))


@pytest.mark.parametrize("flag", ["1", "true"])
def test_versions_with_contents_when_asked(many_versions, cast, api, flag):
    artifact = many_versions.artifacts[0]
    page = api(cast["member"]).get(f"/api/v1/artifacts/{artifact.public_id}/versions/?content={flag}&page_size=3")
    assert page.status_code == 200
    results = page.json()["results"]
    assert [v["content"] for v in results] == [
        ArtifactVersion.objects.get(artifact=artifact, number=n).content for n in (1, 2, 3)
    ]
    assert results[0]["parent"] is None


@pytest.mark.parametrize("query", ["content=", "content=maybe", "page_size=0", "page_size=201"])
def test_a_wrong_versions_query_is_a_400(many_versions, cast, api, query):
    artifact = many_versions.artifacts[0]
    response = api(cast["member"]).get(f"/api/v1/artifacts/{artifact.public_id}/versions/?{query}")
    assert response.status_code == 400, response.content[:200]


def test_a_page_of_versions_costs_the_same_queries_at_3_and_120_versions(many_versions, cast, acme, api):
    few = make_big_session(organization=acme, user=cast["member"], events=10, files=1, versions=3)
    member = api(cast["member"])
    counts = [
        queries(member.get, f"/api/v1/artifacts/{s.artifacts[0].public_id}/versions/{q}")
        for q in ("", "?content=1")
        for s in (few, many_versions)
    ]
    assert counts[0] == counts[1] and counts[2] == counts[3], counts


def test_the_schema_documents_the_versions_page_and_its_content_flag(api):
    schema = api(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/artifacts/{artifact_id}/versions/"]["get"]
    assert {"content", "cursor", "page_size"} <= {p["name"] for p in operation["parameters"]}
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"next", "previous", "results"} <= set(page["properties"])
    item = schema["components"]["schemas"][page["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert {"number", "sha256", "diff", "size", "author", "created_at", "content"} <= set(item["properties"])
    assert "content" not in item.get("required", [])


# --- GET sessions/{id}/export.zip -----------------------------------------------------------------------------------


def test_a_500_file_export_is_streamed_complete_and_never_all_in_memory(cast, acme, api):
    big = make_big_session(organization=acme, user=cast["member"], events=1500, files=500, versions=1, lines=200)
    member = api(cast["member"])
    url = f"/api/v1/sessions/{big.session.public_id}/export.zip"

    tracemalloc.start()
    try:
        response = member.get(url)
        assert response.status_code == 200 and response.streaming
        sent, pieces = 0, 0
        for piece in response.streaming_content:  # as a server sends it: piece by piece, nothing kept
            sent, pieces = sent + len(piece), pieces + 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    total = big.total_bytes
    assert total > 5_000_000
    assert pieces > 100, "the zip came in one piece: it was built before it was sent"
    assert peak < total / 2, f"building the export held {peak:,} bytes at its peak for {total:,} bytes of files"
    body = member.get(url).getvalue()
    assert len(body) == sent
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        root = big.session.public_id
        files = {n[len(root) + 1 :]: n for n in names if not n.endswith("/")}
        assert set(files) == set(big.contents)
        for path in list(big.contents)[::50]:
            assert archive.read(files[path]).decode() == big.contents[path]
        folders = [n for n in names if n.endswith("/")]
        assert len(folders) == len(set(folders)) == 1 + 20 + 20 * 7  # the root, pkg0..19, each with sub0..6
        assert names[0] == f"{root}/"
    assert response["Content-Disposition"] == f'attachment; filename="{root}.zip"'
    assert response["Content-Type"] == "application/zip"


@pytest.fixture
def small_export(cast, acme):  # noqa: ANN001, ANN201
    big = make_big_session(organization=acme, user=cast["member"], events=300, files=120, versions=1)
    return big, cast["member"]


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_is_sent_piece_by_piece_not_read_to_its_end_first(small_export):
    """Django reads a plain iterator to its end before an ASGI server sends any of it: the view hands daphne an
    async iterator that takes each piece from the database thread as the zip is written."""
    from django.test import AsyncClient

    big, member = small_export
    client = AsyncClient()
    await client.aforce_login(member)

    response = await client.get(f"/api/v1/sessions/{big.session.public_id}/export.zip")

    assert response.status_code == 200 and response.streaming and response.is_async
    pieces = [piece async for piece in response.streaming_content]
    assert len(pieces) > 100
    with zipfile.ZipFile(io.BytesIO(b"".join(pieces))) as archive:
        assert archive.testzip() is None
        assert sum(1 for n in archive.namelist() if not n.endswith("/")) == 120
