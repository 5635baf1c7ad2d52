"""Context an organisation's history and knowledge base lend to planning and agents.

The knowledge base (issue 7) fills `knowledge_snippets`; until then an organisation has no
documents and the planner gets an empty list, which is also what a new organisation has.
"""

from __future__ import annotations

from sessions_app.models import DevelopmentSession


def knowledge_snippets(session: DevelopmentSession, *, limit: int = 5) -> list[dict]:
    return []


def combination_history(session: DevelopmentSession) -> list[dict]:
    return []
