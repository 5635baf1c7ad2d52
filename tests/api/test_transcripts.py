"""Agent transcripts: every committed step is an `AgentStep` written in the step's transaction, read through
`GET sessions/{id}/runs/{run}/steps/` — the briefing, what the model said, each tool call with its result (a
write with its diff), tokens by kind that add up to the run's usage, and an `agent.step` event per step."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_app import planning, runtime
from agents_app.models import AgentRun, AgentStep, RunStatus
from agents_app.services import approvals
from agents_app.services.governance import policy_update
from artifacts_app.models import Artifact, ArtifactVersion
from harness_cli.display import describe
from sessions_app.models import ApprovalRequest, DevelopmentSession, Organization, SessionEvent
from sessions_app.services.collaboration import feedback_submit
from tests.api.conftest import ACTORS
from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.support import assert_gap_free, wait_for, wait_for_status

KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
VIEW = dict(zip(ACTORS, [401, 200, 200, 200, 200, 404, 200, 200], strict=True))


def steps_url(session, run) -> str:  # noqa: ANN001
    return f"/api/v1/sessions/{session.public_id}/runs/{run.public_id}/steps/"


def all_pages(client, url: str) -> list[dict]:  # noqa: ANN001
    steps: list[dict] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        steps += response.json()["results"]
        url = response.json()["next"]
    return steps


# --- a real session, run by the worker ---------------------------------------------------------------


@pytest.fixture
def finished(worker, start):  # noqa: ANN001, ANN201
    session = wait_for_status(start(agents=["backend"]), "completed", "failed", timeout=90)
    assert session.status == "completed", session.completion_summary
    return session, AgentRun.objects.get(session=session)


@pytest.mark.django_db(transaction=True)
def test_it_records_every_step_of_a_real_run_with_its_briefing_and_diffs(finished, api, cast):
    session, run = finished

    steps = all_pages(api(cast["member"]), steps_url(session, run) + "?page_size=3")

    assert [s["number"] for s in steps] == list(range(run.step + 1)), "step 0 (the briefing), then every step"
    briefing = steps[0]
    assert briefing["kind"] == "briefing" and briefing["briefing"]["intent"] == "build a chat app"
    assert briefing["briefing"]["text"].startswith("Session intent (quoted user text): ")
    assert {s["kind"] for s in steps[1:]} == {"step"}
    writes = [c for s in steps for c in s["tool_calls"] if c["name"] == "write_file"]
    assert writes, "the offline backend agent writes files"
    versions = ArtifactVersion.objects.filter(author_run=run)
    assert len(writes) == versions.count()
    for call in writes:
        version = versions.get(artifact__path=call["arguments"]["path"], number=call["version"])
        assert call["diff"] == version.diff and call["diff"].startswith("---"), call
        assert not call["is_error"] and not call["refused"] and call["result"].startswith("ok: ")
    assert steps[-1]["tool_calls"][-1]["name"] == "finish"


@pytest.mark.django_db(transaction=True)
def test_the_steps_tokens_add_up_to_the_runs_usage_and_each_step_is_announced(finished, api, cast):
    session, run = finished
    steps = list(AgentStep.objects.filter(run=run))

    for kind in KINDS:
        assert sum(getattr(s, kind) for s in steps) == getattr(run, kind), kind
    assert sum((s.cost_usd for s in steps), Decimal(0)) == run.cost_usd
    assert all(s.estimated and s.model == "offline" for s in steps[1:])
    announced = list(SessionEvent.objects.filter(session=session, type="agent.step").order_by("seq"))
    assert [e.data["step"] for e in announced] == list(range(1, run.step + 1))
    assert all(e.run_id == run.pk and e.data["tokens"] == s.tokens for e, s in zip(announced, steps[1:], strict=True))
    assert describe({"type": "agent.step", "actor": {"name": "Backend"}, "data": announced[0].data}).startswith(
        "backend step 1: "
    )
    types = assert_gap_free(session)
    assert types.index("agent.step") < types.index("agent.completed")


@pytest.mark.django_db(transaction=True)
def test_after_and_the_cursor_page_through_the_steps_in_order(finished, api, cast):
    session, run = finished
    client = api(cast["lead"])

    newer = client.get(steps_url(session, run) + "?after=2").json()["results"]
    first = client.get(steps_url(session, run) + "?page_size=2").json()
    second = client.get(first["next"]).json()

    assert [s["number"] for s in newer] == list(range(3, run.step + 1))
    assert [s["number"] for s in first["results"]] == [0, 1]
    assert [s["number"] for s in second["results"]] == [2, 3]
    assert client.get(steps_url(session, run) + f"?after={run.step}").json()["results"] == []


# --- the Anthropic path: the real SDK against the local fake ---------------------------------------------


@pytest.fixture
def fake(settings, fake_anthropic):  # noqa: ANN001, ANN201, F811
    settings.HARNESS_LLM = "anthropic"
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    settings.HARNESS_LLM_MAX_RETRIES = 3
    settings.HARNESS_LLM_MAX_RETRY_AFTER_SECONDS = 0.2
    return fake_anthropic


@pytest.mark.django_db(transaction=True)
def test_each_step_holds_what_the_fake_billed_its_thinking_refusals_cuts_and_retries(worker, start, fake, api, cast):
    fake.queue_thinking_tool_use(
        "I will write the requirements first.",
        [
            ("write_file", {"path": "../etc/passwd", "content": "x"}),
            ("write_file", {"path": "docs/requirements.md", "content": "# Requirements\n", "kind": "docs"}),
        ],
        text="Writing the requirements.",
    )
    fake.queue_max_tokens("Here is the first half of a very long fi")
    fake.queue_error(529)  # overloaded: the engine retries the step
    fake.queue_tool_use("write_file", {"path": "docs/requirements.md", "content": "# Requirements\n- chat\n"})
    fake.queue_tool_use("finish", {"summary": "wrote the requirements"})

    session = wait_for_status(start(agents=["requirements-analyst"]), "completed", "failed", timeout=60)

    assert session.status == "completed", session.completion_summary
    run = AgentRun.objects.get(session=session)
    steps = all_pages(api(cast["member"]), steps_url(session, run))
    assert [(s["number"], s["kind"]) for s in steps] == [
        (0, "briefing"), (1, "step"), (2, "truncated"), (3, "step"), (4, "step")
    ]  # fmt: skip
    assert len(fake.bills) == 4, "one bill per answered request; the 529 billed nothing"
    for step, bill in zip(steps[1:], fake.bills, strict=True):
        usage = step["usage"]
        assert (usage["input_tokens"], usage["output_tokens"], usage["cache_read_tokens"]) == (
            bill["input_tokens"], bill["output_tokens"], bill["cache_read_input_tokens"]
        )  # fmt: skip
        assert usage["cache_write_tokens"] == bill["cache_creation_input_tokens"]
        assert usage["tokens"] == sum(bill.values()) and not usage["estimated"]
        assert Decimal(usage["cost_usd"]) > 0 and step["model"]
    first, cut, retried, last = steps[1:]
    assert first["thinking"] == "I will write the requirements first."
    assert first["messages"] == ["Writing the requirements."]
    refused, written = first["tool_calls"]
    assert refused["refused"] and refused["is_error"] and refused["diff"] is None
    assert written["version"] == 1 and "+# Requirements" in written["diff"]
    assert cut["messages"] == ["Here is the first half of a very long fi"] and cut["stop_reason"] == "max_tokens"
    assert cut["tool_calls"] == [] and first["retries"] == 0
    assert retried["retries"] == 1, "the 529 was retried before this step"
    assert retried["tool_calls"][0]["version"] == 2 and "+- chat" in retried["tool_calls"][0]["diff"]
    assert last["tool_calls"][0]["name"] == "finish" and last["retries"] == 0
    run.refresh_from_db()
    for kind in KINDS:
        assert sum(s["usage"][kind] for s in steps) == getattr(run, kind), kind


# --- who may read it, and what it costs ------------------------------------------------------------------


def add_steps(run: AgentRun, n: int) -> None:
    """n steps, each writing a new version of one file (so every page also reads diffs)."""
    artifact = Artifact.objects.create(session=run.session, path=f"app/{run.public_id}.py", latest_version_number=n)
    ArtifactVersion.objects.bulk_create(
        ArtifactVersion(
            artifact=artifact, number=i, content=f"v{i}\n", sha256="0" * 64, author_kind="agent", author_run=run,
            author_step=i, diff=f"--- a\n+++ b\n+v{i}\n",
        )
        for i in range(1, n + 1)
    )  # fmt: skip
    AgentStep.objects.bulk_create(
        AgentStep(
            run=run, number=i, input_tokens=10, output_tokens=5, model="offline",
            tool_calls=[{
                "id": f"t{i}", "name": "write_file", "arguments": {"path": artifact.path, "content": f"v{i}\n"},
                "result": f"ok: {artifact.path} is now v{i} (updated)", "is_error": False, "refused": False,
                "not_run": False, "truncated": False,
            }],
        )
        for i in range(1, n + 1)
    )  # fmt: skip


@pytest.mark.parametrize("actor", ACTORS)
def test_whoever_may_see_the_session_may_read_its_transcripts(world, as_actor, actor):
    run = world["runs"][RunStatus.RUNNING]
    add_steps(run, 2)

    response = as_actor(actor).get(steps_url(world["session"], run))

    assert response.status_code == VIEW[actor], response.content[:300]
    if response.status_code == 200:
        steps = response.json()["results"]
        assert [s["number"] for s in steps] == [1, 2]
        assert steps[1]["tool_calls"][0]["diff"] == "--- a\n+++ b\n+v2\n"
    else:
        assert "detail" in response.json()


def test_a_run_of_another_session_or_organisation_is_not_found(world, api, cast):
    globex = Organization.objects.get(slug="globex")
    other = DevelopmentSession.objects.create(organization=globex, created_by=cast["outsider"], intent="build a shop")
    foreign = AgentRun.objects.create(session=other, agent=world["runs"][RunStatus.RUNNING].agent)
    add_steps(foreign, 1)
    member, outsider = api(cast["member"]), api(cast["outsider"])

    assert member.get(steps_url(world["session"], foreign)).status_code == 404, "a run must belong to the session"
    assert member.get(steps_url(other, foreign)).status_code == 404, "another organisation's session"
    assert outsider.get(steps_url(other, foreign)).status_code == 200
    mine = steps_url(world["session"], world["runs"][RunStatus.FAILED])
    assert member.get(mine + "?after=-1").status_code == 400
    assert member.get(mine + "?after=0&cursor=").status_code == 200
    assert member.get(mine + "?cursor=bz14").status_code == 404, "DRF: an invalid cursor (o=x)"
    assert member.get(mine + "?page_size=0").status_code == 400


def test_the_query_count_does_not_grow_with_the_steps(world, api, cast):
    client = api(cast["lead"])
    counts = []
    for n, status in ((1, RunStatus.PAUSED), (300, RunStatus.FAILED)):
        run = world["runs"][status]
        add_steps(run, n)
        url = steps_url(world["session"], run) + "?page_size=200"
        client.get(url)  # warm process-wide caches so both sizes compare alike
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert len(response.json()["results"]) == min(n, 200)
        assert response.json()["results"][-1]["tool_calls"][0]["version"] == min(n, 200)
        counts.append(len(captured))
    assert counts[0] == counts[1], f"{counts[0]} queries for 1 step, {counts[1]} for 200"


# --- decisions, feedback, and what a step costs the database ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_decision_and_the_feedback_given_meanwhile_are_in_the_transcript(worker, start, api, cast, acme):
    policy_update(actor=cast["admin"], organization=acme, approval_triggers=["any_write"])
    session = start(agents=["requirements-analyst"])
    approval = wait_for(lambda: ApprovalRequest.objects.filter(session=session, status="pending").first())
    feedback_submit(user=cast["lead"], session=session, text="Keep the stories short.")
    approvals.approval_decide(user=cast["lead"], approval=approval, decision="approve", comment="looks right")

    session = wait_for_status(session, "completed", "failed", timeout=90)

    assert session.status == "completed", session.completion_summary
    run = AgentRun.objects.get(session=session)
    steps = all_pages(api(cast["member"]), steps_url(session, run))
    assert [s["number"] for s in steps] == list(range(run.step + 1))
    asked = next(s for s in steps if s["approvals"] and s["approvals"][0]["status"] == "requested")
    assert asked["approvals"][0]["id"] == approval.public_id and asked["kind"] == "step"
    parked = next(c for c in asked["tool_calls"] if c["name"] == "write_file")
    assert parked["result"] is None and parked["diff"] is None, "a parked call has no result yet"
    decision = steps[asked["number"] + 1]
    assert decision["kind"] == "decision" and decision["usage"]["tokens"] == 0
    assert decision["approvals"] == [
        {"id": approval.public_id, "status": "approved", "tool": "write_file", "comment": "looks right"}
    ]
    written = decision["tool_calls"][0]
    assert written["result"].startswith("approved. Comment: looks right ok: ") and written["diff"].startswith("---")
    delivered = [s for s in steps if s["feedback"]]
    assert [f["text"] for s in delivered for f in s["feedback"]] == ["Keep the stories short."]
    assert delivered[0]["feedback"][0]["author"] == "lead" and delivered[0]["number"] > decision["number"]


def test_a_step_writes_its_transcript_in_one_insert(start):
    session = start(agents=["backend"])
    planning.plan_session(session.pk)
    run = AgentRun.objects.get(session=session)
    attempt = runtime.run_claim(run.pk, run.task_id)
    state, inserts = "continue", []
    while state == "continue":
        with CaptureQueriesContext(connection) as captured:
            state = runtime.step(run.pk, attempt)
        inserts.append(sum('INSERT INTO "agents_app_agentstep"' in q["sql"] for q in captured))

    assert state == "finished" and len(inserts) > 3
    assert inserts == [1] * len(inserts), "one insert per step (the briefing rides in the first one)"
    assert AgentStep.objects.filter(run=run).count() == len(inserts) + 1
