"""Reading an agent's transcript: its steps in order, and the diffs of the writes they made (one query a page)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db.models import QuerySet

from agents_app.models import AgentRun, AgentStep
from artifacts_app.models import ArtifactVersion

#: A diff shown with its write: about 20 KB, like every other text of a transcript.
MAX_DIFF = 20_000
#: The end of a write's result, as the toolbox words it: `ok: app/api.py is now v3 (updated)`.
WROTE = re.compile(r"ok: (?P<path>.+) is now v(?P<number>\d+) \((?:created|updated)\)$")


def agent_step_list(*, run: AgentRun, after: int | None = None) -> QuerySet[AgentStep]:
    """The run's steps by number; `after`: only those numbered above it (a live page asks for what is new)."""
    steps = AgentStep.objects.filter(run=run).order_by("number")
    return steps if after is None else steps.filter(number__gt=after)


def agent_steps_with_diffs(*, run: AgentRun, steps: Sequence[AgentStep]) -> Sequence[AgentStep]:
    """Give each write_file call of these steps the diff of the version it wrote (from `ArtifactVersion`, which
    keeps it once): `diff` is null for a write that wrote nothing (refused, parked, unchanged, a conflict)."""
    numbers = [s.number for s in steps if any(c.get("name") == "write_file" for c in s.tool_calls)]
    diffs: dict[tuple[int, str, int], str] = {}
    if numbers:
        rows = ArtifactVersion.objects.filter(author_run=run, author_step__in=numbers).values_list(
            "author_step", "artifact__path", "number", "diff"
        )
        diffs = {(step_number, path, number): diff for step_number, path, number, diff in rows}
    for step in steps:
        for call in step.tool_calls:
            if call.get("name") != "write_file":
                continue
            written = WROTE.search(str(call.get("result") or "")) if not call.get("is_error") else None
            diff = diffs.get((step.number, written["path"], int(written["number"]))) if written else None
            call["version"] = int(written["number"]) if written and diff is not None else None
            call["diff"] = diff[:MAX_DIFF] if diff is not None else None
            call["truncated"] = bool(call.get("truncated")) or (diff is not None and len(diff) > MAX_DIFF)
    return steps
