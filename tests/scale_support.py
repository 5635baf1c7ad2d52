"""A team-mode cluster in subprocesses, for the scale-out test and bench: one Redis of its own (broker,
channel layer and cache), the test's PostgreSQL database, N daphne web processes and N Celery worker
processes named w1@…, w2@…, the first one also running beat.

Each worker records every task it starts (node name, task, arguments) in `tasks-<node>.jsonl`, so a test
can say which worker ran which agent run; nothing in the application records the worker. Run as
`python -m tests.scale_support <celery worker options>` it *is* such a worker.

Also: a websocket watcher that follows one session across web processes, reconnecting to the next URL
with `?after=<last seq>` when its process goes away (the test's reconnect logic; the CLI follows SSE on
one URL).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"session.completed", "session.failed", "session.cancelled"}


class Cluster:
    """`with Cluster(tmp_path, webs=2, workers=2) as cluster:` … `cluster.web_urls`, `cluster.kill_web(0)`."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        webs: int = 2,
        workers: int = 2,
        concurrency: int = 1,
        pool: str = "prefork",
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.n_webs, self.n_workers = webs, workers
        self.concurrency, self.pool = concurrency, pool
        self.env = env or {}
        self.redis = None
        self.webs: list[subprocess.Popen] = []
        self.web_urls: list[str] = []
        self.workers: list[subprocess.Popen] = []

    @property
    def node_names(self) -> list[str]:
        return [f"w{i + 1}" for i in range(self.n_workers)]

    # -- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from tests.live.test_redis_restart import PrivateRedis

        self.redis = PrivateRedis()  # its own server: no other test's worker can take these tasks
        self.redis.start()
        self.workers = [self._start_worker(name, beat=(i == 0)) for i, name in enumerate(self.node_names)]
        from tests.conftest import start_daphne

        with ThreadPoolExecutor(self.n_webs) as pool:  # each daphne takes seconds to import Django: in parallel
            started = list(pool.map(lambda _: start_daphne(self.tmp_path, **self._web_env()), range(self.n_webs)))
        self.webs = [server for server, _ in started]
        self.web_urls = [url for _, url in started]
        self._wait_for_workers()

    def stop(self) -> None:
        from tests.conftest import stop_daphne

        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
        for web in self.webs:
            if web.poll() is None:
                stop_daphne(web)
        if self.redis is not None and self.redis.process and self.redis.process.poll() is None:
            self.redis.stop()

    def kill_web(self, index: int) -> None:
        """SIGKILL: no close frame, no goodbye; its clients see their sockets drop."""
        self.webs[index].send_signal(signal.SIGKILL)
        self.webs[index].wait(timeout=10)

    # -- processes ------------------------------------------------------------------------------------

    def _web_env(self) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis.url,
            "HARNESS_CHANNEL_REDIS_URL": self.redis.url,
            "HARNESS_EMBEDDED_WORKER": "false",
            "HARNESS_LLM": "offline",
            "HARNESS_LOG_LEVEL": "WARNING",
            **self.env,
        }

    def _start_worker(self, name: str, *, beat: bool) -> subprocess.Popen:
        from django.conf import settings

        db = settings.DATABASES["default"]
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
            "SCALE_TASK_LOG": str(self.tmp_path / f"tasks-{name}.jsonl"),
            **self._web_env(),
        }
        command = [sys.executable, "-m", "tests.scale_support", "-n", f"{name}@%h", f"--pool={self.pool}"]
        command += [f"--concurrency={self.concurrency}", "--loglevel=WARNING", "--without-mingle", "--without-gossip"]
        command += ["-Q", ",".join(settings.HARNESS_WORKER_QUEUES)]
        if beat:  # one beat for the cluster, as the Procfile has: the reaper's schedule
            command += ["-B", "-s", str(self.tmp_path / f"beat-{name}")]
        log = (self.tmp_path / f"worker-{name}.log").open("w")
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )  # fmt: skip

    def _wait_for_workers(self, timeout: float = 60) -> None:
        """Until every worker answers a broadcast ping: a late worker would leave all the work to the other."""
        from celery import Celery

        app = Celery(broker=self.redis.url, set_as_current=False)
        wanted = set(self.node_names)
        deadline = time.monotonic() + timeout
        answered: set[str] = set()
        while time.monotonic() < deadline:
            answered |= {name.split("@")[0] for reply in app.control.ping(timeout=0.5) for name in reply}
            if wanted <= answered:
                return
            dead = [w.args for w in self.workers if w.poll() is not None]
            if dead:
                break
        raise RuntimeError(f"workers {sorted(wanted - answered)} did not answer a ping:\n{self.logs()[-3000:]}")

    # -- what happened ----------------------------------------------------------------------------------

    def tasks_run(self) -> list[dict]:
        """Every task start the workers recorded: {"worker", "task", "args", "id"}."""
        out = []
        for path in sorted(self.tmp_path.glob("tasks-*.jsonl")):
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return out

    def logs(self) -> str:
        paths = sorted(self.tmp_path.glob("worker-*.log")) + sorted(self.tmp_path.glob("daphne-*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in paths)


# -- a watcher that moves between web processes -------------------------------------------------------------


@dataclass
class Watch:
    """What one websocket client saw: events with a seq in arrival order (seq, type, url index), every
    connection it opened (url index, after), and where each connection went live (index into events)."""

    events: list[tuple[int, str, int]] = field(default_factory=list)
    connections: list[tuple[int, int]] = field(default_factory=list)
    live_at: list[int] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)  # seq → time.time() when it arrived

    @property
    def seqs(self) -> list[int]:
        return [seq for seq, _, _ in self.events]


def ws_url(base: str, session_id: str, after: int) -> str:
    return f"{base.replace('http://', 'ws://', 1)}/ws/sessions/{session_id}/?after={after}"


async def follow(
    urls: list[str],
    session_id: str,
    key: str,
    *,
    watch: Watch | None = None,
    on_event=None,  # noqa: ANN001 - called with (watch, message) for every event with a seq
    max_connections: int = 10,
) -> Watch:
    """Follow a session until a terminal event. Starts on urls[0]; when the connection drops or cannot be
    opened, goes to the next URL with `?after=` the last seq it received, like a client behind a load
    balancer whose backend died."""
    import websockets

    watch = watch or Watch()
    index, last = 0, 0
    while len(watch.connections) < max_connections:
        watch.connections.append((index, last))
        try:
            async with websockets.connect(
                ws_url(urls[index], session_id, last),
                additional_headers={"Authorization": f"Token {key}"},
                open_timeout=10,
                close_timeout=1,
            ) as socket:
                async for raw in socket:
                    message = json.loads(raw)
                    if message.get("type") == "live":
                        watch.live_at.append(len(watch.events))
                        continue
                    if message.get("seq") is None:  # presence, deltas: ephemeral, never replayed
                        continue
                    watch.events.append((message["seq"], message["type"], index))
                    watch.arrivals.setdefault(message["seq"], time.time())
                    last = message["seq"]
                    if on_event is not None:
                        on_event(watch, message)
                    if message["type"] in TERMINAL:
                        return watch
        except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake):
            pass
        index = (index + 1) % len(urls)
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up after {max_connections} connections: {watch.connections}")


# -- the worker entry point ---------------------------------------------------------------------------------


def _record_task(sender=None, task_id=None, task=None, args=None, **kwargs) -> None:  # noqa: ANN001, ANN003
    line = json.dumps({"worker": task.request.hostname, "task": task.name, "args": list(args or []), "id": task_id})
    with open(os.environ["SCALE_TASK_LOG"], "a") as out:  # O_APPEND: one short line per write, no interleaving
        out.write(line + "\n")


def worker_main(argv: list[str]) -> None:
    from celery.signals import task_prerun

    task_prerun.connect(_record_task, weak=False)  # before the pool forks: its children inherit it
    from config.celery import app

    app.worker_main(["worker", *argv])


if __name__ == "__main__":
    worker_main(sys.argv[1:])
