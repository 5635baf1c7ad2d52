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
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.support import add_files

pytestmark = pytest.mark.django_db

#: The step's statements (see `step_statements`): the bill (the LLMCall row, written at once so a step that never
#: commits is still billed), then ONE transaction: one locking read of session and run, the organisation's
#: conflict lock, one read of the path (clashes, the file with its latest version, the other sessions that wrote
#: it), the file and its version, the transcript, the run's row (checkpoint and usage), the step's events, the
#: session's row (event counter and usage). A step that writes nothing: 6.
WRITE_STEP_STATEMENTS = 10
QUIET_STEP_STATEMENTS = 6
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
    add_files(session, files)
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
    assert all(control == 2 for _, control in measured[1:]), "one transaction a step (the bill is one statement)"
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


def test_a_step_that_writes_nothing_costs_6(start, fake):
    run, attempt = claimed_run(start)
    for n in range(1, 6):
        fake.queue_tool_use("report_progress", {"percent": n * 10, "message": f"thinking {n}"})

    counts = [len(data) for data, _ in step_statements(run, attempt, 5)]

    assert counts[1:] == [QUIET_STEP_STATEMENTS] * 4, counts


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


# --- the bill: written at once, counted once -------------------------------------------------------------------


def assert_counted_once(run: AgentRun) -> None:
    """The run's and the session's usage are exactly their calls' rows, and every call is counted."""
    from django.db.models import Sum

    from agents_app.models import LLMCall
    from sessions_app.models import DevelopmentSession

    fields = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")
    fresh = AgentRun.objects.get(pk=run.pk)
    session = DevelopmentSession.objects.get(pk=run.session_id)
    of_run = LLMCall.objects.filter(run=run).aggregate(**{f: Sum(f) for f in fields})
    of_session = LLMCall.objects.filter(session_id=run.session_id).aggregate(**{f: Sum(f) for f in fields})
    assert {f: getattr(fresh, f) for f in fields} == of_run
    assert {f: getattr(session, f) for f in fields} == of_session
    assert not LLMCall.objects.filter(session_id=run.session_id, counted=False, steps__isnull=True).exists()


def test_a_fenced_step_is_billed_once(start, fake):
    from agents_app.models import RunStatus

    run, attempt = claimed_run(start)
    queue_writing_steps(fake, 3)
    carried = runtime.Carried()
    assert runtime.step(run.pk, attempt, carried) == "continue"
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)  # the reaper gave it to another worker
    newer = runtime.run_claim(run.pk, run.task_id)

    assert runtime._guarded_step(run.pk, attempt, carried) == "fenced"  # called the model, then found it gone

    assert AgentRun.objects.get(pk=run.pk).step == 1
    assert_counted_once(run)
    assert runtime.step(run.pk, newer) == "continue"
    assert_counted_once(run)


def test_a_call_lost_with_its_worker_is_counted_when_the_run_is_claimed_again(start, fake):
    """A worker killed between the model's answer and its step's commit leaves exactly this behind: the call's row,
    uncounted. The next claim counts it; the step that then commits counts only its own call."""
    from agents_app.llm import get_provider
    from agents_app.llm.base import CallContext, LLMRequest
    from agents_app.models import LLMCall, RunStatus

    run, attempt = claimed_run(start)
    queue_writing_steps(fake, 3)
    assert runtime.step(run.pk, attempt) == "continue"
    context = CallContext(purpose="agent_step", session_id=run.session_id, run_id=run.pk, defer_counting=True)
    request = LLMRequest(system="s", messages=[{"role": "user", "content": "go on"}], context=context)
    get_provider().complete(request)  # answered, billed… and the worker dies here
    assert LLMCall.objects.filter(run=run, counted=False, steps__isnull=True).count() == 1

    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)  # the reaper requeues it
    newer = runtime.run_claim(run.pk, run.task_id)

    assert_counted_once(run)
    assert runtime.step(run.pk, newer) == "continue"
    assert_counted_once(run)
