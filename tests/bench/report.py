"""What a benchmark ran on, printed with its figures: read from the running system, never written by hand.

`environment_line()` names the database and its server version, the Celery broker's URL scheme, the
channel layer's class, the Celery workers that answered (pool and concurrency) and the CPUs the
machine shows; `table(title, rows)` prints a table under its title and that line.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection


def _database() -> str:
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        major, minor = divmod(connection.pg_version, 10_000)
        return f"PostgreSQL {major}.{minor}"
    if connection.vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    return connection.vendor


def _workers() -> str:
    """Asks the workers themselves (a control broadcast), so the line says what is running, not what was meant."""
    from config.celery import app

    try:
        stats = app.control.inspect(timeout=0.5).stats() or {}
    except Exception as exc:  # noqa: BLE001 - a broker that cannot broadcast is reported, not fatal
        return f"workers unknown ({type(exc).__name__})"
    if not stats:
        return "no Celery worker answered"
    described = []
    for info in stats.values():
        pool = info.get("pool", {})
        kind = str(pool.get("implementation", "?")).rsplit(".", 1)[-1].split(":")[0]
        described.append(f"{kind} × {pool.get('max-concurrency', '?')}")
    return f"{len(stats)} Celery worker(s): " + ", ".join(sorted(described))


def environment_line() -> str:
    from config.celery import app

    broker = urlparse(str(app.conf.broker_url or "")).scheme or "?"
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return " · ".join(
        [_database(), f"broker {broker}://", f"channel layer {layer}", _workers(), f"{os.cpu_count()} CPUs"]
    )


def table(title: str, rows: Sequence[Sequence[object]]) -> None:
    """The first row is the header; columns are aligned; the environment line follows the title."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(map(len, cells), default=0))]
    print(f"\n{title}\n  ran on: {environment_line()}")
    for row in cells:
        print("  " + " | ".join(value.rjust(widths[i]) if i else value.ljust(widths[i]) for i, value in enumerate(row)))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
