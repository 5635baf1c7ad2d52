"""Knowledge search on SQLite, the embedded default (`make bench`): printed, never asserted.

10,000 documents in an SQLite file (as `make demo` keeps them): FTS5 ranked by bm25(), what
`knowledge_search` runs now, beside the path it replaced — every document of the organisation read
into Python and ranked there with BM25 — timed alternately in the same run. The bench suite runs on
PostgreSQL, so there this module runs itself again in a subprocess with no DATABASE_URL.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from agents_app.knowledge import KnowledgeHit, _plain_snippet, knowledge_documents, knowledge_search
from agents_app.models import KnowledgeDocument
from agents_app.ranking import BM25, tokens
from tests.bench.report import table

pytestmark = [pytest.mark.bench, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parents[2]
WORDS = str.split(
    "chat channel message websocket redis postgres index query cache celery worker queue api rest graphql "
    "auth token session cookie login billing invoice payment stripe deploy docker kubernetes terraform test "
    "pytest fixture coverage react component layout css theme mobile accessibility search ranking vector "
    "migration schema backup latency throughput retry timeout logging metrics tracing alert review security"
)
QUERIES = {
    "one word": ("websocket", 20, False),
    "two words": ("redis latency", 20, False),
    "session context (any of 12 terms)": (
        "build a realtime chat app with websocket channels, postgres search and pytest coverage",
        5,
        True,
    ),
}


@pytest.mark.skipif(connection.vendor == "sqlite", reason="already on SQLite")
def test_bench_knowledge_search_on_sqlite_in_a_subprocess(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["HARNESS_SQLITE_TEST_DB"] = str(tmp_path / "bench.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__).relative_to(ROOT)), "-m", "bench", "-q", "-s"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def load_everything_bm25(organization, query: str, limit: int, match_any: bool) -> list[KnowledgeHit]:  # noqa: ANN001
    """The replaced path, as it was: every document of the organisation read and ranked in Python."""
    terms = re.findall(r"[a-z0-9]{2,}", query.lower())
    by_id = {d.public_id: d for d in knowledge_documents(organization)}
    corpus = {key: f"{d.title} {d.title} {' '.join(d.tags)} {d.body}" for key, d in by_id.items()}
    wanted = set(tokens(" ".join(terms)))
    hits = []
    for key, score in BM25(corpus).rank(" ".join(terms)):
        if score <= 0:
            continue
        if not match_any and not wanted <= set(tokens(corpus[key])):
            continue
        hits.append(KnowledgeHit(by_id[key], round(score, 4), _plain_snippet(by_id[key].body, terms)))
    return hits[:limit]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index is SQLite's")
def test_bench_knowledge_search_fts5_beside_loading_everything(cast, acme):
    rng = random.Random(3)
    started = time.perf_counter()
    KnowledgeDocument.objects.bulk_create(
        [
            KnowledgeDocument(
                organization=acme,
                created_by=cast["member"],
                title=" ".join(rng.sample(WORDS, 4)).capitalize(),
                body=" ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 240))),
                tags=rng.sample(WORDS, 2),
            )
            for _ in range(10_000)
        ],
        batch_size=2000,
    )
    indexed = time.perf_counter() - started
    rows = [("query", "FTS5 p50 ms", "max", "hits", "load everything p50 ms", "max", "hits", "speed-up")]
    for name, (query, limit, match_any) in QUERIES.items():
        paths = {
            "fts5": lambda q=query, n=limit, a=match_any: knowledge_search(
                organization=acme, query=q, limit=n, match_any=a
            ),
            "old": lambda q=query, n=limit, a=match_any: load_everything_bm25(acme, q, n, a),
        }
        hits = {key: len(run()) for key, run in paths.items()}  # warm both
        times: dict[str, list[float]] = {"fts5": [], "old": []}
        for i in range(4):  # the old path takes seconds a call
            for key in ("fts5", "old") if i % 2 else ("old", "fts5"):
                began = time.perf_counter()
                paths[key]()
                times[key].append((time.perf_counter() - began) * 1000)
        fts5, old = statistics.median(times["fts5"]), statistics.median(times["old"])
        rows.append(
            (name, fts5, max(times["fts5"]), hits["fts5"], old, max(times["old"]), hits["old"], f"{old / fts5:.0f}×")
        )
    table(
        f"knowledge search over {KnowledgeDocument.objects.count():,} documents on SQLite "
        f"(written and indexed by the triggers in {indexed:.1f} s)",
        rows,
    )
