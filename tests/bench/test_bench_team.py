"""Team-intelligence benchmarks (`make bench`): printed, never asserted.

The analytics endpoint over 10 and 10,000 sessions of generated history (time and queries), and
knowledge search over 10,000 documents (PostgreSQL full text with its GIN index)."""

from __future__ import annotations

import random
import statistics
import time

import pytest
from django.contrib.postgres.search import SearchVector
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_app.knowledge import knowledge_search
from agents_app.models import KnowledgeDocument
from tests.analytics.history import generate_history

pytestmark = [pytest.mark.bench, pytest.mark.django_db]
WORDS = str.split(
    "chat channel message websocket redis postgres index query cache celery worker queue api rest graphql "
    "auth token session cookie login billing invoice payment stripe deploy docker kubernetes terraform test "
    "pytest fixture coverage react component layout css theme mobile accessibility search ranking vector "
    "migration schema backup latency throughput retry timeout logging metrics tracing alert review security"
)


def timed(fn, repeat: int) -> list[float]:  # noqa: ANN001
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def test_bench_analytics_over_history(api, cast, acme):
    client = api(cast["lead"])
    rows = []
    generated = 0
    for size in (10, 10_000):
        started = time.perf_counter()
        generate_history(acme, [cast["member"], cast["member2"], cast["lead"]], cast["lead"], size - generated)
        build = time.perf_counter() - started
        generated = size
        with connection.cursor() as cursor:
            # Fresh planner statistics, as autovacuum would have after a bulk load: without them
            # PostgreSQL estimates one row per table and picks nested loops over 25,000 LLM calls.
            cursor.execute("ANALYZE")
        with CaptureQueriesContext(connection) as queries:
            client.get("/api/v1/analytics/", {"organization": "acme", "min_support": 1})
        query_count = len(queries)  # now: the next request's request_started signal empties the query log
        times = timed(lambda: client.get("/api/v1/analytics/", {"organization": "acme", "min_support": 1}), 5)
        rows.append((size, statistics.median(times), max(times), query_count, build))
    print("\n\nanalytics endpoint (GET /api/v1/analytics/, PostgreSQL)")
    print(f"{'sessions':>9} {'p50 ms':>8} {'max ms':>8} {'queries':>8} {'history built in':>17}")
    for size, p50, worst, queries, build in rows:
        print(f"{size:>9} {p50:>8.1f} {worst:>8.1f} {queries:>8} {build:>15.1f} s")


def test_bench_knowledge_search(cast, acme):
    rng = random.Random(3)
    documents = [
        KnowledgeDocument(
            organization=acme,
            created_by=cast["member"],
            title=" ".join(rng.sample(WORDS, 4)).capitalize(),
            body=" ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 240))),
            tags=rng.sample(WORDS, 2),
        )
        for _ in range(10_000)
    ]
    started = time.perf_counter()
    KnowledgeDocument.objects.bulk_create(documents, batch_size=2000)
    KnowledgeDocument.objects.update(
        search_vector=SearchVector("title", weight="A", config="english")
        + SearchVector("body", weight="B", config="english")
    )
    indexed = time.perf_counter() - started
    queries = {
        "one word (websearch)": lambda: knowledge_search(organization=acme, query="websocket", limit=20),
        "two words (websearch)": lambda: knowledge_search(organization=acme, query="redis latency", limit=20),
        "session context (any of 12 terms)": lambda: knowledge_search(
            organization=acme,
            query="build a realtime chat app with websocket channels, postgres search and pytest coverage",
            limit=5,
            match_any=True,
        ),
    }
    print(f"\n\nknowledge search over 10,000 documents (PostgreSQL full text, GIN; indexed in {indexed:.1f} s)")
    print(f"{'query':<36} {'p50 ms':>8} {'max ms':>8} {'hits':>5}")
    for name, run in queries.items():
        hits = len(run())
        times = timed(run, 10)
        print(f"{name:<36} {statistics.median(times):>8.1f} {max(times):>8.1f} {hits:>5}")
    print(
        f"{'':<36} {'':>8} {'':>8} {'':>5}  (KnowledgeDocument rows: {KnowledgeDocument.objects.count()},"
        f" vendor {connection.vendor})"
    )
