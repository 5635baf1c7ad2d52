"""Knowledge search on SQLite, the embedded default: FTS5 ranked by bm25(), one organisation at a time.

The suite runs on PostgreSQL, so `test_it_passes_on_sqlite` runs this module again in a subprocess with
no DATABASE_URL (SQLite, as `make demo` has it); every other test here runs only on SQLite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from agents_app.knowledge import fts_quote, knowledge_search, knowledge_snippets
from agents_app.models import KnowledgeDocument
from sessions_app.models import Organization

ROOT = Path(__file__).resolve().parents[2]
on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index is SQLite's")


@pytest.mark.skipif(connection.vendor == "sqlite", reason="already running on SQLite")
def test_it_passes_on_sqlite():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "HARNESS_SQLITE_TEST_DB")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__).relative_to(ROOT)), "-q", "-p", "no:randomly"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=* ?\d+ passed, 1 skipped(, \d+ warnings?)? in .*", summary), output  # only this skips


def add(organization, user, title, body, tags=()):  # noqa: ANN001, ANN201
    return KnowledgeDocument.objects.create(
        organization=organization, created_by=user, title=title, body=body, tags=list(tags)
    )


@pytest.fixture
def globex(cast):  # noqa: ANN001, ANN201
    return Organization.objects.get(slug="globex")


def ids(hits):  # noqa: ANN001, ANN201
    return [hit.document.public_id for hit in hits]


def fts_integrity_check() -> None:
    """FTS5 compares its index with the documents table and raises if they differ."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO agents_app_knowledge_fts(agents_app_knowledge_fts, rank) VALUES ('integrity-check', 1)"
        )


@on_sqlite
def test_it_ranks_by_bm25_where_a_title_word_counts_twice_a_body_word(cast, acme):
    member = cast["member"]
    filler = " ".join(["notes about the weekly meeting"] * 6)
    once = add(acme, member, "Meeting notes", f"{filler} websocket")
    thrice = add(acme, member, "More meeting notes", f"{filler} websocket websocket websocket")
    titled = add(acme, member, "Websockets in production", filler)
    for i in range(8):
        add(acme, member, f"Unrelated {i}", filler)

    hits = knowledge_search(organization=acme, query="websocket", limit=10)

    assert ids(hits) == [thrice.public_id, titled.public_id, once.public_id]  # weighted frequency 3 > 2 > 1
    ranks = [hit.rank for hit in hits]
    assert ranks == sorted(ranks, reverse=True) and ranks[-1] > 0
    assert "**websocket**" in hits[0].snippet.lower()


@on_sqlite
def test_every_word_is_needed_unless_the_context_asks_for_any(cast, acme):
    member = cast["member"]
    both = add(acme, member, "Chat storage", "Chat messages live in PostgreSQL.")
    chat = add(acme, member, "Chat", "Realtime rooms over Redis.")

    assert ids(knowledge_search(organization=acme, query="chat postgresql", limit=10)) == [both.public_id]
    anywhere = knowledge_search(organization=acme, query="postgresql redis", limit=10, match_any=True)
    assert set(ids(anywhere)) == {both.public_id, chat.public_id}
    assert ids(knowledge_search(organization=acme, query="the and with", limit=10)) == []  # stopwords only


@on_sqlite
def test_another_organisations_documents_are_never_returned(cast, acme, globex):
    ours = add(acme, cast["member"], "Deploy runbook", "Deploy with docker compose.")
    theirs = [add(globex, cast["outsider"], f"Deploy runbook {i}", "Deploy deploy docker docker.") for i in range(5)]

    assert ids(knowledge_search(organization=acme, query="deploy docker", limit=10)) == [ours.public_id]
    assert ids(knowledge_search(organization=acme, query="deploy docker", limit=10, match_any=True)) == [ours.public_id]
    assert set(ids(knowledge_search(organization=globex, query="deploy", limit=10))) == {d.public_id for d in theirs}


@on_sqlite
def test_an_edit_or_a_deletion_is_searchable_at_once(cast, acme):
    document = add(acme, cast["member"], "Caching layer", "Use Redis for the cache.")
    assert ids(knowledge_search(organization=acme, query="redis", limit=5)) == [document.public_id]

    document.body = "Use memcached for the cache."
    document.save()
    assert ids(knowledge_search(organization=acme, query="redis", limit=5)) == []
    assert ids(knowledge_search(organization=acme, query="memcached", limit=5)) == [document.public_id]
    KnowledgeDocument.objects.filter(pk=document.pk).update(title="Varnish", tags=["edge"])
    assert ids(knowledge_search(organization=acme, query="edge varnish", limit=5)) == [document.public_id]
    assert ids(knowledge_search(organization=acme, query="layer", limit=5)) == []
    fts_integrity_check()

    document.delete()
    assert knowledge_search(organization=acme, query="memcached", limit=5) == []
    fts_integrity_check()


@on_sqlite
@pytest.mark.parametrize(
    "query",
    [
        '"chat',
        'chat"',
        "chat*",
        "NEAR(chat redis)",
        "chat OR redis",
        "-chat",
        "chat NOT redis",
        "title:chat",
        "^chat",
        "((((",
        "chat AND",
        "organization_id : 1",
        '"" OR ""',
        "*",
        "!!!",
        "",
        "   ",
    ],
)
def test_what_a_person_types_is_words_never_query_syntax(cast, acme, query):
    add(acme, cast["member"], "Chat", "Realtime chat over Redis.")

    knowledge_search(organization=acme, query=query, limit=5)
    knowledge_search(organization=acme, query=query, limit=5, match_any=True)


@on_sqlite
def test_quoting_escapes_quotes_inside_a_term(cast, acme):
    add(acme, cast["member"], "Chat", "Realtime chat over Redis.")

    with connection.cursor() as cursor:
        for term in ['say "hi"', 'a"b', '"', "NEAR(", "x OR y"]:
            cursor.execute(
                "SELECT count(*) FROM agents_app_knowledge_fts WHERE agents_app_knowledge_fts MATCH %s",
                [fts_quote(term)],
            )
            assert cursor.fetchone()[0] == 0
    assert fts_quote('a"b') == '"a""b"'


@on_sqlite
def test_a_search_reads_no_more_documents_than_it_returns(cast, acme):
    KnowledgeDocument.objects.bulk_create(
        [
            KnowledgeDocument(organization=acme, created_by=cast["member"], title=f"Chat {i}", body="chat " * (i + 1))
            for i in range(60)
        ]
    )
    loaded = []

    def count(sender, instance, **kwargs):  # noqa: ANN001, ANN003, ANN202
        loaded.append(instance.pk)

    post_init.connect(count, sender=KnowledgeDocument)
    try:
        with CaptureQueriesContext(connection) as queries:
            hits = knowledge_search(organization=acme, query="chat", limit=5)
        contextual = knowledge_search(organization=acme, query="a chat app", limit=3, match_any=True)
    finally:
        post_init.disconnect(count, sender=KnowledgeDocument)

    assert len(hits) == 5 and len(contextual) == 3
    assert len(loaded) == 8, "only the documents returned are read"
    assert len(queries) == 2, [q["sql"] for q in queries]


@on_sqlite
def test_the_briefing_context_comes_from_the_index(cast, acme, start):
    document = add(acme, cast["member"], "Realtime chat conventions", "Websockets through Django Channels.")
    session = start(intent="build a realtime chat with websockets")

    context = knowledge_snippets(session, limit=3)

    assert [item["id"] for item in context] == [document.public_id]
