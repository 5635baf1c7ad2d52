"""A session as big as a long day's work, made in a few bulk statements: its event log (gap-free `seq`,
`last_event_seq` set), its files with a few versions each (parents, diffs, authors) and the runs that wrote
them. Shared by the query-count tests and the benchmark (issue 16, item 5)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from agents_app.models import AgentDefinition, AgentRun, RunStatus
from artifacts_app.models import Artifact, ArtifactVersion
from sessions_app.models import DevelopmentSession, SessionEvent

AGENTS = ("backend", "frontend", "test-engineer")


@dataclass
class BigSession:
    session: DevelopmentSession
    runs: list[AgentRun]
    artifacts: list[Artifact]
    contents: dict[str, str] = field(default_factory=dict)  # path → latest content

    @property
    def total_bytes(self) -> int:
        return sum(len(c.encode()) for c in self.contents.values())


def file_content(path: str, version: int, lines: int) -> str:
    """Distinct, line-based text (so diffs and compression behave like code, not like zeros)."""
    return "".join(f"# {path} v{version} line {n}: value = {n * 7919 % 104729}\n" for n in range(lines))


def make_big_session(
    *,
    organization,  # noqa: ANN001
    user,  # noqa: ANN001
    events: int = 10_000,
    files: int = 500,
    versions: int = 3,
    lines: int = 40,
    intent: str = "a big session",
) -> BigSession:
    """`events` events (the artifact events of every version among them), `files` files of `versions` versions,
    three runs (completed) that wrote them. `lines` lines per version."""
    agents = list(AgentDefinition.objects.filter(slug__in=AGENTS).order_by("slug"))
    session = DevelopmentSession.objects.create(
        organization=organization,
        created_by=user,
        intent=intent,
        status="running",
        plan={"agents": [{"slug": a.slug, "name": a.name, "reason": "test"} for a in agents]},
    )
    now = timezone.now()
    runs = AgentRun.objects.bulk_create(
        AgentRun(session=session, agent=a, position=i, status=RunStatus.COMPLETED, progress=100, step=files)
        for i, a in enumerate(agents)
    )
    artifacts = Artifact.objects.bulk_create(
        Artifact(
            session=session,
            path=f"pkg{i % 20}/sub{i % 7}/module_{i:04d}.py",
            kind="code",
            language="python",
            latest_version_number=versions,
        )
        for i in range(files)
    )
    contents: dict[str, str] = {}
    previous: dict[int, ArtifactVersion] = {}
    for number in range(1, versions + 1):  # one statement per version number: parents exist before children
        rows = []
        for i, artifact in enumerate(artifacts):
            content = file_content(artifact.path, number, lines)
            rows.append(
                ArtifactVersion(
                    artifact=artifact,
                    number=number,
                    content=content,
                    sha256=hashlib.sha256(content.encode()).hexdigest(),
                    author_kind="agent",
                    author_run=runs[i % len(runs)],
                    author_step=number * files + i,
                    parent=previous.get(artifact.pk),
                    diff=f"--- a/{artifact.path}\n+++ b/{artifact.path}\n@@ -1 +1 @@\n-v{number - 1}\n+v{number}\n",
                )
            )
            contents[artifact.path] = content
        for version in ArtifactVersion.objects.bulk_create(rows, batch_size=500):
            previous[version.artifact_id] = version
    writes = [(artifact, number, runs[i % len(runs)]) for number in range(1, versions + 1)
              for i, artifact in enumerate(artifacts)]  # fmt: skip
    log = []
    for seq in range(1, events + 1):
        at = now - timedelta(seconds=events - seq)
        if seq <= len(writes):
            artifact, number, run = writes[seq - 1]
            log.append(
                SessionEvent(
                    session=session, seq=seq, type="artifact.created" if number == 1 else "artifact.updated",
                    run=run, actor_kind="agent", actor_ref=run.agent.slug, actor_name=run.agent.slug, at=at,
                    data={"artifact": artifact.public_id, "path": artifact.path, "kind": "code", "version": number,
                          "agent": run.agent.slug},
                )
            )  # fmt: skip
        else:
            run = runs[seq % len(runs)]
            log.append(
                SessionEvent(
                    session=session, seq=seq, type="agent.progress", run=run, actor_kind="agent",
                    actor_ref=run.agent.slug, actor_name=run.agent.slug, at=at,
                    data={"agent": run.agent.slug, "progress": seq * 100 // events, "message": f"step {seq}"},
                )
            )  # fmt: skip
    SessionEvent.objects.bulk_create(log, batch_size=2000)
    DevelopmentSession.objects.filter(pk=session.pk).update(last_event_seq=events)
    session.last_event_seq = events
    return BigSession(session=session, runs=runs, artifacts=artifacts, contents=contents)
