"""Server-rendered bar charts: the page turns these rows into SVG, no JavaScript, no CDN."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness_cli.money import dollars

ROW_HEIGHT = 52  # label line, value line, bar: nothing overlaps on a phone
TOKEN_KINDS = [
    ("input_tokens", "info", "input"),
    ("output_tokens", "accent", "output"),
    ("cache_read_tokens", "cache-read", "cache read"),
    ("cache_write_tokens", "cache-write", "cache write"),
]


@dataclass
class Segment:
    value: float
    css: str
    title: str
    x: float = 0.0  # percent of the bar area
    width: float = 0.0


@dataclass
class Row:
    label: str
    text: str
    segments: list[Segment]
    y: int = 0


@dataclass
class BarChart:
    """Horizontal bars, one row each, optionally stacked; widths are relative to the largest total."""

    title: str
    rows: list[Row]
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)
    empty: str = "No data in this period yet."

    def __post_init__(self) -> None:
        largest = max((sum(s.value for s in row.segments) for row in self.rows), default=0) or 1
        for index, row in enumerate(self.rows):
            row.y = index * ROW_HEIGHT
            x = 0.0
            for segment in row.segments:
                segment.x, segment.width = x, round(100 * segment.value / largest, 2)
                x += segment.width

    @property
    def height(self) -> int:
        return max(1, len(self.rows)) * ROW_HEIGHT


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def charts_for(data: dict[str, Any]) -> dict[str, BarChart]:
    combos = [
        Row(
            label=" + ".join(c["agents"]),
            text=f"{c['success_rate']:.0%} of {c['sessions']}",
            segments=[
                Segment(c["completed"], "ok", f"{c['completed']} completed"),
                Segment(c["sessions"] - c["completed"], "bad", f"{c['sessions'] - c['completed']} not completed"),
            ],
        )
        for c in data["combinations"]
    ]
    times = [
        Row(
            label=t["task_type"],
            text=f"median {_duration(t['median_seconds'])} · mean {_duration(t['avg_seconds'])} · {t['sessions']}",
            segments=[Segment(t["median_seconds"] or 0, "info", f"median {_duration(t['median_seconds'])}")],
        )
        for t in data["completion_time"]
    ]
    failures = [
        Row(
            label=f"{f['category']} · {f['agent']}",
            text=(
                f"{f['count']}× — resolved {f['resolved']} (retry {f['resolved_by']['retry']}, "
                f"feedback {f['resolved_by']['feedback']}, rejection {f['resolved_by']['rejected_approval']})"
            ),
            segments=[
                Segment(f["resolved"], "ok", f"{f['resolved']} resolved"),
                Segment(f["unresolved"], "bad", f"{f['unresolved']} unresolved: {f['signature']}"),
            ],
        )
        for f in data["failures"]
    ]
    people = [
        Row(
            label=p["username"],
            text=f"{p['completed']}/{p['sessions']} completed · {p['approvals_decided']} approvals decided",
            segments=[
                Segment(p["completed"], "ok", f"{p['completed']} completed"),
                Segment(p["sessions"] - p["completed"], "muted", f"{p['sessions'] - p['completed']} other"),
            ],
        )
        for p in data["productivity"]["people"]
    ]
    tokens = [
        Row(
            label=a["agent"],
            text=f"{a['tokens_used']:,} tokens · {dollars(a['cost_usd'], a['estimated'])}"
            + (" · estimated" if a["estimated"] else ""),
            segments=[
                Segment(a[kind], css, f"{a[kind]:,} {label} tokens") for kind, css, label in TOKEN_KINDS if a[kind]
            ],
        )
        for a in data["cost"]["by_agent"]
    ]
    return {
        "combinations": BarChart(
            "Success by agent combination",
            combos,
            [("ok", "completed"), ("bad", "failed or cancelled")],
            empty=f"No combination has {data['min_support']} finished sessions in this period yet.",
        ),
        "completion_time": BarChart("Time to complete by task type", times, [("info", "median")]),
        "failures": BarChart("Failure patterns", failures, [("ok", "resolved"), ("bad", "unresolved")]),
        "people": BarChart("Sessions per person", people, [("ok", "completed"), ("muted", "other")]),
        "tokens": BarChart("Tokens by agent", tokens, [(css, label) for _, css, label in TOKEN_KINDS]),
    }
