"""The offline ranking's reasons read as reasons: the intent's words an agent's description matches and why
its kind of work is usually needed, never the internal scores (BM25, priors)."""

from __future__ import annotations

import re

import pytest

from agents_app.models import AgentDefinition
from agents_app.selection import SelectionInput, offline_answer, offline_ranking

pytestmark = pytest.mark.django_db


def test_it_gives_each_chosen_agent_a_reason_a_person_reads(cast):
    data = SelectionInput(
        intent="build a realtime chat app with a REST API", requirements=["messages are stored in a database"],
        visual_context={}, task_type="feature", strategy="hybrid", candidates=list(AgentDefinition.objects.all()),
        refused={}, explicit=[], chosen_by="test", max_agents=6, knowledge=[], history=[],
    )  # fmt: skip
    ranking = offline_ranking(data)
    reasons = {a["slug"]: a["reason"] for a in offline_answer(data, ranking)["agents"]}

    assert reasons, "the offline ranking picks someone"
    for slug, reason in reasons.items():
        assert not re.search(r"BM25|prior|ranked \d", reason), (slug, reason)
        assert reason[:1].isupper() and len(reason) > 20, (slug, reason)
    backend = next(r for r in ranking if r["slug"] == "backend")
    assert backend["matched"], "the backend's description shares words with the intent"
    assert all(f"“{word}”" in reasons["backend"] for word in backend["matched"])
    assert "implementation is usually needed for a feature" in reasons["backend"]
