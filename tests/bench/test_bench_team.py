"""Team-intelligence benchmarks (`make bench`): printed, never asserted.

The analytics endpoint over 10 and 10,000 sessions of generated history (time and queries) beside
hand-written SQL computing the same figures in the same run, and knowledge search over 10,000
documents (PostgreSQL full text with its GIN index; SQLite's FTS5 is `test_bench_knowledge_sqlite`)."""

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
from tests.bench.report import table

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


# The figures GET /api/v1/analytics/ returns (analytics_app.selectors.team_analytics, as a lead sees
# them), written by hand: one statement per figure, PostgreSQL. %(org)s, %(since)s, %(until)s, %(support)s.
_IN_PERIOD = "s.organization_id = %(org)s AND s.created_at >= %(since)s AND s.created_at <= %(until)s"
_SECONDS = "EXTRACT(EPOCH FROM (s.finished_at - s.created_at))"
_STATEMENTS = {
    "totals": "SELECT s.status, count(*) FROM sessions_app_developmentsession s WHERE IN_PERIOD GROUP BY 1",
    "verification": """
        SELECT v.status, count(*) FROM sessions_app_developmentsession s
        JOIN LATERAL (SELECT status FROM agents_app_verificationrun WHERE session_id = s.id
                      ORDER BY created_at DESC, id DESC LIMIT 1) v ON true
        WHERE IN_PERIOD GROUP BY 1""",
    "combinations": """
        SELECT s.agent_combination, count(*), count(*) FILTER (WHERE s.status = 'completed'),
               avg(SECONDS) FILTER (WHERE s.status = 'completed')
        FROM sessions_app_developmentsession s
        WHERE IN_PERIOD AND s.status IN ('completed', 'failed', 'cancelled') AND s.agent_combination <> ''
        GROUP BY 1 HAVING count(*) >= %(support)s
        ORDER BY count(*) FILTER (WHERE s.status = 'completed')::float / count(*) DESC, count(*) DESC, 1
        LIMIT 15""",
    "completion_time": """
        SELECT s.task_type, count(*), avg(SECONDS), percentile_cont(0.5) WITHIN GROUP (ORDER BY SECONDS)
        FROM sessions_app_developmentsession s
        WHERE IN_PERIOD AND s.status = 'completed' AND s.finished_at IS NOT NULL GROUP BY 1 ORDER BY 1""",
    "failures": """
        SELECT category, agent, signature, count(*), count(done),
               count(*) FILTER (WHERE by_feedback), count(*) FILTER (WHERE NOT by_feedback AND by_rejection)
        FROM (
            SELECT e.data ->> 'category' AS category, e.data ->> 'agent' AS agent,
                   e.data ->> 'signature' AS signature, c.seq AS done,
                   EXISTS (SELECT 1 FROM sessions_app_sessionevent f
                           WHERE f.session_id = e.session_id AND f.type = 'feedback.submitted'
                             AND f.seq > e.seq AND f.seq < c.seq) AS by_feedback,
                   EXISTS (SELECT 1 FROM sessions_app_sessionevent r
                           WHERE r.session_id = e.session_id AND r.run_id = e.run_id AND r.type = 'approval.decided'
                             AND r.data ->> 'decision' = 'rejected' AND r.seq > e.seq AND r.seq < c.seq) AS by_rejection
            FROM sessions_app_sessionevent e
            JOIN sessions_app_developmentsession s ON s.id = e.session_id
            LEFT JOIN LATERAL (SELECT min(seq) AS seq FROM sessions_app_sessionevent
                               WHERE session_id = e.session_id AND run_id = e.run_id
                                 AND type = 'agent.completed' AND seq > e.seq) c ON true
            WHERE s.organization_id = %(org)s AND e.at >= %(since)s AND e.at <= %(until)s
              AND (e.type = 'agent.failed' OR (e.type = 'session.failed' AND e.data ->> 'category' = 'verification'))
        ) failed
        GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2 LIMIT 15""",
    "people": """
        SELECT u.username, count(*), count(*) FILTER (WHERE s.status = 'completed'),
               avg(SECONDS) FILTER (WHERE s.status = 'completed')
        FROM sessions_app_developmentsession s JOIN auth_user u ON u.id = s.created_by_id
        WHERE IN_PERIOD GROUP BY 1 ORDER BY 2 DESC, 1""",
    "approvals": """
        SELECT u.username, count(*) FILTER (WHERE a.decided_at IS NOT NULL),
               count(*) FILTER (WHERE a.status = 'pending'),
               avg(EXTRACT(EPOCH FROM (a.decided_at - a.created_at))) FILTER (WHERE a.decided_at IS NOT NULL)
        FROM sessions_app_approvalrequest a
        JOIN sessions_app_developmentsession s ON s.id = a.session_id
        LEFT JOIN auth_user u ON u.id = a.decided_by_id
        WHERE s.organization_id = %(org)s AND a.created_at >= %(since)s AND a.created_at <= %(until)s
        GROUP BY GROUPING SETS ((u.username), ())""",
    "cost_totals": """
        SELECT sum(s.input_tokens), sum(s.output_tokens), sum(s.cache_read_tokens), sum(s.cache_write_tokens),
               sum(s.tokens_used), sum(s.cost_usd), count(*) FILTER (WHERE s.usage_estimated)
        FROM sessions_app_developmentsession s WHERE IN_PERIOD""",
    "cost_by_session": """
        SELECT s.public_id, left(s.intent, 120), s.usage_estimated, s.input_tokens, s.output_tokens,
               s.cache_read_tokens, s.cache_write_tokens, s.tokens_used, s.cost_usd
        FROM sessions_app_developmentsession s
        WHERE IN_PERIOD AND (s.tokens_used > 0 OR s.cost_usd > 0)
        ORDER BY s.cost_usd DESC, s.tokens_used DESC, s.public_id LIMIT 15""",
    "cost_by_agent": """
        SELECT coalesce(d.slug, c.purpose) AS who, count(*), count(*) FILTER (WHERE c.estimated),
               sum(c.input_tokens), sum(c.output_tokens), sum(c.cache_read_tokens), sum(c.cache_write_tokens),
               sum(c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens) AS tokens,
               sum(c.cost_usd) AS cost
        FROM agents_app_llmcall c
        JOIN sessions_app_developmentsession s ON s.id = c.session_id
        LEFT JOIN agents_app_agentrun r ON r.id = c.run_id
        LEFT JOIN agents_app_agentdefinition d ON d.id = r.agent_id
        WHERE IN_PERIOD GROUP BY 1 ORDER BY cost DESC, tokens DESC, who""",
}
HAND_WRITTEN_SQL = {
    name: sql.replace("IN_PERIOD", _IN_PERIOD).replace("SECONDS", _SECONDS) for name, sql in _STATEMENTS.items()
}


def hand_written(params: dict) -> dict[str, list[tuple]]:
    with connection.cursor() as cursor:
        out = {}
        for name, sql in HAND_WRITTEN_SQL.items():
            cursor.execute(sql, params)
            out[name] = cursor.fetchall()
    return out


def _same_figures(body: dict, raw: dict[str, list[tuple]]) -> None:
    """The baseline computes what the endpoint returns: a few figures of each kind, compared."""
    assert body["totals"]["sessions"] == sum(n for _, n in raw["totals"])
    assert [(c["sessions"], c["completed"]) for c in body["combinations"]] == [
        (n, done) for _, n, done, _ in raw["combinations"]
    ]
    assert [(t["task_type"], t["sessions"]) for t in body["completion_time"]] == [
        (t, n) for t, n, _, _ in raw["completion_time"]
    ]
    assert [(f["count"], f["resolved"], f["resolved_by"]["feedback"]) for f in body["failures"]] == [
        (n, done, feedback) for _, _, _, n, done, feedback, _ in raw["failures"]
    ]
    assert body["cost"]["total_tokens"] == raw["cost_totals"][0][4]
    assert [(a["agent"], a["calls"]) for a in body["cost"]["by_agent"]] == [(r[0], r[1]) for r in raw["cost_by_agent"]]


def test_bench_analytics_over_history(api, cast, acme):
    """The endpoint (DRF, JSON, the selectors' ORM queries) and the hand-written SQL of the same figures
    are each warmed, then timed alternately, first one then the other, in the same run."""
    client = api(cast["lead"])
    rows = [("sessions", "endpoint p50 ms", "max", "queries", "hand-written SQL p50 ms", "max", "ratio", "built s")]
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

        def endpoint():  # noqa: ANN202
            response = client.get("/api/v1/analytics/", {"organization": "acme", "min_support": 1})
            assert response.status_code == 200
            return response.json()

        with CaptureQueriesContext(connection) as queries:
            body = endpoint()
        query_count = len(queries)  # now: the next request's request_started signal empties the query log
        params = {"org": acme.pk, "since": body["since"], "until": body["until"], "support": 1}
        _same_figures(body, hand_written(params))
        measured: dict[str, list[float]] = {"endpoint": [], "sql": []}
        runs = {"endpoint": endpoint, "sql": lambda params=params: hand_written(params)}
        for i in range(10):
            order = ("endpoint", "sql") if i % 2 else ("sql", "endpoint")
            for name in order:
                measured[name] += timed(runs[name], 1)
        endpoint_ms, sql_ms = measured["endpoint"], measured["sql"]
        ratio = statistics.median(endpoint_ms) / statistics.median(sql_ms)
        rows.append(
            (
                size,
                statistics.median(endpoint_ms),
                max(endpoint_ms),
                query_count,
                statistics.median(sql_ms),
                max(sql_ms),
                f"{ratio:.1f}×",
                build,
            )
        )
    table("analytics endpoint (GET /api/v1/analytics/) beside hand-written SQL of the same figures", rows)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's FTS5: test_bench_knowledge_sqlite")
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
    rows = [("query", "p50 ms", "max ms", "hits")]
    for name, run in queries.items():
        hits = len(run())
        times = timed(run, 10)
        rows.append((name, statistics.median(times), max(times), hits))
    table(
        f"knowledge search over {KnowledgeDocument.objects.count():,} documents "
        f"({connection.vendor} full text with its GIN index; indexed in {indexed:.1f} s)",
        rows,
    )
