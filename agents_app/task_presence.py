"""Evidence that a task message still exists: in a broker queue, or held by a live worker.

The reaper requeues a QUEUED run only when neither holds its task id — never because it waited
long (a backlog is not a loss). Reads the broker's queues directly (Redis lists, or the in-memory
transport of the embedded mode) and asks live workers (this process's own worker state, then a
broadcast `query_task` to the others). When the broker cannot be read the answer is None: no
evidence either way, so nothing is requeued on a guess.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)


def tasks_held(task_ids: Iterable[str], *, app=None, broadcast_timeout: float = 1.0) -> set[str] | None:  # noqa: ANN001
    """The subset of `task_ids` a broker queue or a live worker holds; None when the broker can't be read."""
    wanted = {t for t in task_ids if t}
    if not wanted:
        return set()
    if app is None:
        from config.celery import app

    held: set[str] = set()
    for _ in range(2):  # a message in transit between the broker and a worker is missed at most once
        rest = wanted - held
        try:
            held |= _in_broker_queues(app) & rest
        except Exception:  # noqa: BLE001 - an unreadable broker is "don't know", never "lost"
            logger.warning("cannot read the broker's queues; no queued work is requeued this round", exc_info=True)
            return None
        held |= _in_this_worker(wanted - held)
        rest = wanted - held
        if rest and not str(app.conf.broker_url).startswith("memory://"):
            held |= _in_other_workers(app, rest, broadcast_timeout)
        if held == wanted:
            break
    return held


def _queue_names(app) -> list[str]:  # noqa: ANN001
    names = {app.conf.task_default_queue or "celery"}
    names |= {q.name for q in (app.conf.task_queues or [])}
    names |= {route.get("queue") for route in (app.conf.task_routes or {}).values() if isinstance(route, dict)}
    names.discard(None)
    return sorted(names)


def _in_broker_queues(app) -> set[str]:  # noqa: ANN001
    found: set[str] = set()
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        names = _queue_names(app)
        if conn.transport.driver_type == "redis":
            keys = [channel._q_for_pri(name, pri) for name in names for pri in channel.priority_steps]
            pipe = channel.client.pipeline()
            for key in dict.fromkeys(keys):
                pipe.lrange(key, 0, -1)
            for raw_messages in pipe.execute():
                found |= {_task_id(raw) for raw in raw_messages}
        elif conn.transport.driver_type == "memory":
            for name in names:
                queue = channel.queues.get(name)
                if queue is not None:
                    found |= {_task_id(message) for message in list(queue.queue)}
        else:
            raise RuntimeError(f"cannot look inside a {conn.transport.driver_type} broker")
    found.discard("")
    return found


def _task_id(message: bytes | str | dict) -> str:
    try:
        payload = json.loads(message) if isinstance(message, bytes | str) else message
        return str((payload.get("headers") or {}).get("id") or (payload.get("properties") or {}).get("correlation_id"))
    except (ValueError, AttributeError):
        return ""


def _in_this_worker(task_ids: set[str]) -> set[str]:
    """A worker in this process (the embedded one, or the worker running the reaper) holds these."""
    from celery.worker import state

    return {t for t in task_ids if t in state.requests}


def _in_other_workers(app, task_ids: set[str], timeout: float) -> set[str]:  # noqa: ANN001
    try:
        replies = app.control.inspect(timeout=timeout).query_task(*sorted(task_ids)) or {}
    except Exception:  # noqa: BLE001 - no reply is the same as no worker holding it
        logger.warning("workers could not be asked which tasks they hold", exc_info=True)
        return set()
    return {task_id for reply in replies.values() for task_id in (reply or {})} & task_ids
