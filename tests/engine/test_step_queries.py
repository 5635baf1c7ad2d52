"""What one agent step costs the database: the same at step 2 and step 50, with 1 file or 500 in the session.

The agent is driven through the real SDK against the local fake Messages API, step by step (the test is the
worker), with one `Carried` per task as `runtime.execute` keeps it. Each step writes a file and reports progress,
the common step of a real agent. Statements are counted as the database receives them; transaction control
(BEGIN, COMMIT, savepoints) is counted apart.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_app import planning, runtime
from agents_app.models import AgentRun
from artifacts_app.models import Artifact, ArtifactVersion
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

#: The step's statements (see `step_statements`): the bill (LLMCall + the run's and session's usage, its own
#: transaction, so a step that never commits is still billed), one locking read of session and run, the
#: organisation's conflict lock and the other writers, the file and its version, the transcript, the run's
#: checkpoint, the step's events and the session's event counter.
WRITE_STEP_STATEMENTS = 13
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def split(captured: CaptureQueriesContext) -> tuple[list[str], int]:
    """(data statements, transaction-control statements)."""
    data, control = [], 0
    for query in captured.captured_queries:
        if query["sql"].split(" ", 1)[0].upper() in TRANSACTION_CONTROL:
            control += 1
        else:
            data.append(query["sql"])
    return data, control


@pytest.fixture
def fake(settings, fake_anthropic):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM = "anthropic"
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    return fake_anthropic


def claimed_run(start, files: int = 0) -> tuple[AgentRun, int]:  # noqa: ANN001
    session = start(agents=["backend"])
    planning.plan_session(session.pk)
    run = AgentRun.objects.get(session=session)
    if files:
        artifacts = Artifact.objects.bulk_create(
            Artifact(session=session, path=f"lib/module_{i:03}.py", latest_version_number=1) for i in range(files)
        )
        ArtifactVersion.objects.bulk_create(
            ArtifactVersion(artifact=a, number=1, content=f"X = {i}\n", sha256="0" * 64, author_kind="user")
            for i, a in enumerate(artifacts)
        )
    return run, runtime.run_claim(run.pk, run.task_id)


def queue_writing_steps(fake, steps: int, folder: str = "app") -> None:  # noqa: ANN001
    """Each step writes a file (new on odd steps, the previous one again on even ones) and reports progress.
    Sessions running side by side write to different folders: a shared path is a cross-session conflict."""
    for n in range(1, steps + 1):
        path = f"{folder}/part_{(n + 1) // 2}.py"
        fake.queue_tool_use("write_file", {"path": path, "content": f"# step {n}\nVALUE = {n}\n"})
        last = fake.script[-1]["content"]
        last.append(fake._tool_use("report_progress", {"percent": min(99, n), "message": f"step {n}"}))
    fake.queue_tool_use("finish", {"summary": "done"})


def step_statements(run: AgentRun, attempt: int, steps: int) -> list[tuple[list[str], int]]:
    carried, out = runtime.Carried(), []
    for _ in range(steps):
        with CaptureQueriesContext(connection) as captured:
            assert runtime.step(run.pk, attempt, carried) == "continue"
        out.append(split(captured))
    return out


def test_a_step_costs_the_same_at_step_2_and_step_50(start, fake):
    run, attempt = claimed_run(start)
    queue_writing_steps(fake, 50)

    measured = step_statements(run, attempt, 50)

    counts = [len(data) for data, _ in measured]
    assert counts[1:] == [WRITE_STEP_STATEMENTS] * 49, counts
    assert all(control == 4 for _, control in measured[1:]), "two transactions a step: the bill and the step"
    assert counts[0] > counts[1], "the first step of a task loads what the others reuse (policy, requirements…)"
    assert AgentRun.objects.get(pk=run.pk).step == 50


def test_a_step_costs_the_same_with_1_file_or_500_in_the_session(start, fake):
    small, small_attempt = claimed_run(start, files=1)
    queue_writing_steps(fake, 4)
    with_one = [len(data) for data, _ in step_statements(small, small_attempt, 4)]
    big, big_attempt = claimed_run(start, files=500)
    fake.script.clear()
    queue_writing_steps(fake, 4, folder="big")
    with_500 = [len(data) for data, _ in step_statements(big, big_attempt, 4)]

    assert with_one == with_500
    assert with_500[1:] == [WRITE_STEP_STATEMENTS] * 3


def test_the_steps_statements_are_the_ones_named(start, fake):
    run, attempt = claimed_run(start)
    queue_writing_steps(fake, 3)

    data, _ = step_statements(run, attempt, 3)[2]

    tables = [
        "agents_app_llmcall", "agents_app_agentrun", "sessions_app_developmentsession", "FOR NO KEY UPDATE",
        "pg_advisory_xact_lock", "artifacts_app_artifact", "artifacts_app_artifactversion", "agents_app_agentstep",
        "sessions_app_sessionevent",
    ]  # fmt: skip
    for name in tables:
        assert any(name in sql for sql in data), f"no statement on {name}"
    assert sum(sql.startswith("INSERT INTO \"sessions_app_sessionevent\"") for sql in data) == 1, "events in one insert"
