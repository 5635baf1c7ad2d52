"""Whole sessions on a real Celery worker: every strategy, offline, from intent to completion."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agents_app.models import AgentRun, RunStatus
from artifacts_app.models import ArtifactVersion
from sessions_app.models import Requirement, RequirementSource, SessionEvent
from tests.support import assert_gap_free, wait_for_status

SAMPLE = Path(__file__).resolve().parents[2] / "harness_cli" / "samples" / "chat_app_design.png"


@pytest.mark.parametrize("strategy", ["sequential", "parallel", "hybrid"])
def test_it_runs_a_whole_session_for_each_strategy(worker, start, strategy):
    session = start(execution_strategy=strategy, requirements=["Users can create channels"])

    session = wait_for_status(session, "completed", "failed")

    assert session.status == "completed", session.completion_summary
    runs = list(AgentRun.objects.filter(session=session).prefetch_related("depends_on"))
    assert len(runs) >= 3
    assert {run.status for run in runs} == {RunStatus.COMPLETED}
    deps = {run.agent.slug: {d.agent.slug for d in run.depends_on.all()} for run in runs}
    if strategy == "parallel":
        assert all(not parents for parents in deps.values())
    elif strategy == "sequential":
        assert sorted(len(parents) for parents in deps.values()) == [0] + [1] * (len(runs) - 1)
    else:
        assert any(parents for parents in deps.values())
    types = assert_gap_free(session)
    assert types[0] == "session.created" and types[-1] == "session.completed"
    assert "session.plan_ready" in types
    plan_agents = [a["slug"] for a in session.plan["agents"]]
    assert sorted(plan_agents) == sorted(deps) and all(a["reason"] for a in session.plan["agents"])
    versions = ArtifactVersion.objects.filter(artifact__session=session)
    assert versions.count() >= len(runs)
    # Every file is an agent's, but for the checks report Harness writes itself.
    assert set(versions.filter(author_run__isnull=True).values_list("artifact__path", flat=True)) <= {
        ".harness/verification.json"
    }
    # Dependencies really ran first: every run started after its dependencies finished.
    by_slug = {run.agent.slug: run for run in runs}
    for slug, parents in deps.items():
        for parent in parents:
            assert by_slug[parent].finished_at <= by_slug[slug].started_at


def test_it_reads_screenshots_into_visual_context_and_requirements(worker, start):
    with SAMPLE.open("rb") as handle:
        upload = SimpleUploadedFile("design.png", handle.read(), content_type="image/png")

    session = wait_for_status(start(screenshots=[upload]), "completed", "failed")

    assert session.status == "completed", session.completion_summary
    assert session.visual_context["image"]["device_class"] == "desktop"
    derived = Requirement.objects.filter(session=session, source=RequirementSource.SCREENSHOT)
    assert derived.exists()
    assert "ux-designer" in [a["slug"] for a in session.plan["agents"]]
    types = assert_gap_free(session)
    assert "screenshot.analysed" in types


def test_a_long_agent_runs_as_several_continuations_and_loses_nothing(worker, start, settings):
    settings.HARNESS_AGENT_SLICE_STEPS = 1  # each task runs one step, then queues the run again

    session = wait_for_status(start(agents=["backend"]), "completed", "failed")

    assert session.status == "completed", session.completion_summary
    run = AgentRun.objects.get(session=session)
    continued = list(
        SessionEvent.objects.filter(run=run, type="agent.continued").order_by("seq").values_list("data", flat=True)
    )
    assert len(continued) >= 3, f"{run.step} steps in slices of one step should continue several times"
    assert [c["resumed_from_step"] for c in continued] == list(range(1, len(continued) + 1))
    assert run.attempt == len(continued) + 1 and run.step == len(continued) + 1
    assert SessionEvent.objects.filter(run=run, type="agent.started").count() == 1
    paths = list(ArtifactVersion.objects.filter(author_run=run).values_list("artifact__path", flat=True))
    assert paths and sorted(paths) == sorted(set(paths)), "no step was redone across continuations"
    assert not SessionEvent.objects.filter(session=session, type="agent.requeued").exists()
