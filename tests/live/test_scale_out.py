"""Scale-out: two daphne processes and two Celery worker processes on one Redis and one PostgreSQL.

One five-agent session, started through web process A's API. Watchers on A and on B see the same events,
in order, with no gap and no duplicate; both workers run agents; SIGKILL on A mid-session moves A's
watchers to B, which replays from `?after=<last seq>` and goes on live."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from agents_app.models import AgentRun, RunStatus
from sessions_app.models import DevelopmentSession, SessionEvent
from tests.scale_support import Cluster, Watch, follow

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIVE = ["requirements-analyst", "architect", "backend", "frontend", "test-engineer"]
WATCHERS_PER_WEB = 3
# Slow enough that the session is still running when A dies, and that two runs of the parallel phase are
# in flight at once (each worker holds one task at a time: concurrency 1, prefetch 1, acks late).
WORKER_ENV = {"HARNESS_OFFLINE_STEP_SECONDS": "0.2"}


def test_two_webs_and_two_workers_share_one_session_and_survive_losing_a_web(cast, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("separate web and worker processes need a shared database server")
    key = Token.objects.get_or_create(user=cast["member"])[0].key
    auth = {"Authorization": f"Token {key}"}

    with Cluster(tmp_path, webs=2, workers=2, concurrency=1, env=WORKER_ENV) as cluster:
        created = httpx.post(
            f"{cluster.web_urls[0]}/api/v1/sessions/",
            json={"organization": "acme", "intent": "build a chat app", "agents": FIVE, "execution_strategy": "hybrid"},
            headers=auth, timeout=30,
        )  # fmt: skip
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        on_a, on_b, kill = asyncio.run(_watch_and_kill_a(cluster, session_id, key))
        logs = cluster.logs()
        tasks = cluster.tasks_run()

    session = DevelopmentSession.objects.get(public_id=session_id)
    assert session.status == "completed", f"{session.completion_summary}\n{logs[-4000:]}"
    log = list(SessionEvent.objects.filter(session=session).order_by("seq").values_list("seq", "type"))
    n = session.last_event_seq
    assert [seq for seq, _ in log] == list(range(1, n + 1))
    assert log[-1][1] == "session.completed", f"events after completion: {log[-5:]}"

    # Every watcher, on either process, moved or not: 1..N exactly, ending with session.completed.
    for name, watch in [*(("A", w) for w in on_a), *(("B", w) for w in on_b)]:
        seqs = watch.seqs
        missing, repeated = sorted(set(range(1, n + 1)) - set(seqs)), len(seqs) - len(set(seqs))
        assert seqs == list(range(1, n + 1)), f"watcher on {name}: missing {missing}, {repeated} duplicates"
        assert [(seq, kind) for seq, kind, _ in watch.events] == log  # the same sequence everywhere
    # A died mid-session, and its watchers went on at B: replay from what they had, then live. (The third item
    # of an event is an index into its watcher's own URL list: [A, B] for A's watchers, [B, A] for B's.)
    assert kill["status"] == "running" and kill["seq"] < n, kill
    for watch in on_a:
        assert watch.connections[0] == (0, 0), watch.connections
        web, after_b = watch.connections[-1]  # the one that lasted (a refused try at dead A may come between)
        assert web == 1 and after_b > 0, watch.connections
        moved_at = next(i for i, (_, _, web) in enumerate(watch.events) if web == 1)
        assert watch.events[moved_at - 1][0] == after_b, "reconnected with ?after= its last seq"
        assert watch.live_at[-1] < len(watch.events), "events arrived live on B after the move"
    for watch in on_b:
        assert watch.connections == [(0, 0)], "B's watchers never had to reconnect"
        assert {web for _, _, web in watch.events} == {0}

    # Both workers ran agents of this session, and every run completed.
    runs = {r.pk: r for r in AgentRun.objects.filter(session=session)}
    assert len(runs) == 5 and all(r.status == RunStatus.COMPLETED for r in runs.values())
    ran = {
        t["worker"].split("@")[0] for t in tasks if t["task"] == "agents_app.tasks.run_agent" and t["args"][0] in runs
    }
    by_worker = Counter(t["worker"].split("@")[0] for t in tasks if t["task"].endswith(".run_agent"))
    resumed = [w.connections[-1][1] for w in on_a]
    print(f"\n{n} events; A killed at seq {kill['seq']}; its watchers resumed on B after {resumed}; runs {by_worker}")
    assert ran == {"w1", "w2"}, f"agent runs by worker: {ran}\n{tasks}"


async def _watch_and_kill_a(cluster: Cluster, session_id: str, key: str) -> tuple[list[Watch], list[Watch], dict]:
    a, b = cluster.web_urls
    first_agent_done = asyncio.Event()  # …at every watcher on A: all of them are mid-stream when A dies

    def on_event(watch: Watch, message: dict) -> None:
        if all(any(kind == "agent.completed" for _, kind, _ in w.events) for w in on_a):
            first_agent_done.set()

    on_a = [Watch() for _ in range(WATCHERS_PER_WEB)]
    on_b = [Watch() for _ in range(WATCHERS_PER_WEB)]
    watchers = [follow([a, b], session_id, key, watch=w, on_event=on_event) for w in on_a]
    watchers += [follow([b, a], session_id, key, watch=w) for w in on_b]
    running = asyncio.gather(*watchers)
    kill: dict = {}

    async def kill_a() -> None:
        await asyncio.wait_for(first_agent_done.wait(), timeout=90)
        cluster.kill_web(0)
        kill["seq"] = max(w.seqs[-1] for w in on_a)
        async with httpx.AsyncClient(headers={"Authorization": f"Token {key}"}) as client:
            kill["status"] = (await client.get(f"{b}/api/v1/sessions/{session_id}/", timeout=10)).json()["status"]

    await asyncio.wait_for(asyncio.gather(running, kill_a()), timeout=150)
    return on_a, on_b, kill
