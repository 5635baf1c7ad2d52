"""Context an organisation's knowledge base and history lend to planning and agents (reads only).

Search is PostgreSQL full text (a weighted `tsvector` column with a GIN index, `SearchRank`,
`SearchHeadline` for snippets); on SQLite, the embedded default, it is the FTS5 index of migration
0012 ranked by `bm25()`, so a search reads at most `limit` documents, never the whole organisation.
Knowledge is untrusted text: it is only ever quoted to a model as reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from agents_app.models import AgentDefinition, KnowledgeDocument
from agents_app.ranking import STOPWORDS
from sessions_app.errors import NotFound
from sessions_app.models import DevelopmentSession, Organization, RequirementStatus, SessionStatus

SNIPPET_CHARS = 320
HISTORY_DAYS = 180
HISTORY_MIN_SESSIONS = 2
_TERM = re.compile(r"[a-z0-9]{2,}")
#: Migration 0012's FTS5 table (columns title, tags, body, organization_id). bm25() weights: title and
#: tags count twice the body (PostgreSQL's weights A and B); the organisation column only filters.
_FTS_SQL = """
    SELECT agents_app_knowledge_fts.rowid, bm25(agents_app_knowledge_fts, 2.0, 2.0, 1.0, 0.0) AS score,
           snippet(agents_app_knowledge_fts, 2, '**', '**', ' … ', 40)
    FROM agents_app_knowledge_fts
    JOIN agents_app_knowledgedocument AS document ON document.id = agents_app_knowledge_fts.rowid
    WHERE agents_app_knowledge_fts MATCH %s AND document.organization_id = %s
    ORDER BY score, document.updated_at DESC, document.id DESC
    LIMIT %s
"""


@dataclass(frozen=True)
class KnowledgeHit:
    document: KnowledgeDocument
    rank: float
    snippet: str

    def as_context(self) -> dict:
        return {
            "id": self.document.public_id,
            "title": self.document.title,
            "tags": self.document.tags,
            "snippet": self.snippet,
        }


def knowledge_documents(organization: Organization) -> QuerySet[KnowledgeDocument]:
    return KnowledgeDocument.objects.filter(organization=organization).select_related(
        "organization", "created_by", "source_session"
    )


def knowledge_get(*, user: Any, public_id: str) -> KnowledgeDocument:
    """A document of one of the caller's organisations; any other id looks missing."""
    document = (
        KnowledgeDocument.objects.filter(public_id=public_id, organization__memberships__user=user)
        .select_related("organization", "created_by", "source_session")
        .first()
        if user.is_authenticated
        else None
    )
    if document is None:
        raise NotFound(f"Knowledge document {public_id} not found.")
    return document


def knowledge_search(
    *, organization: Organization, query: str, limit: int = 20, match_any: bool = False
) -> list[KnowledgeHit]:
    """Ranked documents. A person's query must match all its words (web-search syntax: quotes, -word,
    or); the context for a session (`match_any`) ranks by any of its terms."""
    documents = knowledge_documents(organization)
    terms = _TERM.findall(query.lower())
    if not terms:
        return [KnowledgeHit(d, 0.0, _plain_snippet(d.body, [])) for d in documents[:limit]]
    if connection.vendor == "postgresql":
        return _search_postgres(documents, query, terms, limit=limit, match_any=match_any)
    return _search_fts5(documents, organization, terms, limit=limit, match_any=match_any)


def _search_postgres(
    documents: QuerySet[KnowledgeDocument], query: str, terms: list[str], *, limit: int, match_any: bool
) -> list[KnowledgeHit]:
    search = (
        SearchQuery(" | ".join(dict.fromkeys(terms)), search_type="raw", config="english")
        if match_any
        else SearchQuery(query, search_type="websearch", config="english")
    )
    rows = (
        documents.filter(search_vector=search)
        .annotate(
            rank=SearchRank(F("search_vector"), search),
            snippet=SearchHeadline(
                "body",
                search,
                config="english",
                start_sel="**",
                stop_sel="**",
                max_words=45,
                min_words=15,
                max_fragments=2,
                fragment_delimiter=" … ",
            ),
        )
        .order_by("-rank", "-updated_at")[:limit]
    )
    return [KnowledgeHit(row, float(row.rank), row.snippet) for row in rows]


def fts_quote(term: str) -> str:
    """One FTS5 string: whatever a person typed is a word to look for, never query syntax."""
    return '"' + term.replace('"', '""') + '"'


def fts_query(organization_id: int, terms: list[str], *, match_any: bool) -> str | None:
    """The MATCH expression: the organisation's postings AND the words (all of them, or any); None when
    no word is left to look for (stopwords only)."""
    words = [fts_quote(t) for t in dict.fromkeys(terms) if t not in STOPWORDS]
    if not words:
        return None
    joined = (" OR " if match_any else " AND ").join(words)
    return f"organization_id : {fts_quote(str(organization_id))} AND ({joined})"


def _search_fts5(
    documents: QuerySet[KnowledgeDocument], organization: Organization, terms: list[str], *, limit: int, match_any: bool
) -> list[KnowledgeHit]:
    """SQLite: FTS5 finds and ranks (bm25: lower is better), then the `limit` best documents are loaded."""
    expression = fts_query(organization.pk, terms, match_any=match_any)
    if expression is None or limit <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_FTS_SQL, [expression, organization.pk, limit])
        ranked = cursor.fetchall()
    by_id = documents.in_bulk([row[0] for row in ranked])
    hits = []
    for pk, score, snippet in ranked:
        document = by_id.get(pk)
        if document is None:  # deleted between the two reads
            continue
        text = " ".join(snippet.split()) if snippet and "**" in snippet else _plain_snippet(document.body, terms)
        hits.append(KnowledgeHit(document, -score, text))
    return hits


def _plain_snippet(body: str, terms: list[str]) -> str:
    text = " ".join(body.split())
    lowered = text.lower()
    positions = [p for p in (lowered.find(t) for t in terms) if p >= 0]
    start = max(0, min(positions) - 60) if positions else 0
    snippet = text[start : start + SNIPPET_CHARS]
    return ("…" if start else "") + snippet + ("…" if start + SNIPPET_CHARS < len(text) else "")


def knowledge_snippets(
    session: DevelopmentSession, *, agent: AgentDefinition | None = None, limit: int = 5
) -> list[dict]:
    """The documents most relevant to the session (and agent): what the planner or the agent is shown."""
    requirements = session.requirements.filter(status=RequirementStatus.ACTIVE).values_list("text", flat=True)
    parts = [session.intent, *requirements]
    if agent is not None:
        parts += [agent.name, " ".join(agent.capabilities)]
    hits = knowledge_search(organization=session.organization, query=" ".join(parts), limit=limit, match_any=True)
    return [hit.as_context() for hit in hits]


def combination_history(session: DevelopmentSession, *, limit: int = 12) -> list[dict]:
    """How often each set of agents finished this organisation's sessions of the same task type lately."""
    finished = (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED)
    rows = (
        DevelopmentSession.objects.filter(
            organization_id=session.organization_id,
            task_type=session.task_type,
            status__in=finished,
            created_at__gte=timezone.now() - timedelta(days=HISTORY_DAYS),
        )
        .exclude(agent_combination="")
        .exclude(pk=session.pk)
        .values("agent_combination")
        .annotate(sessions=Count("id"), completed=Count("id", filter=Q(status=SessionStatus.COMPLETED)))
        .filter(sessions__gte=HISTORY_MIN_SESSIONS)
        .order_by("-sessions", "agent_combination")[:limit]
    )
    return [
        {
            "agents": row["agent_combination"].split("+"),
            "task_type": session.task_type,
            "sessions": row["sessions"],
            "success_rate": round(row["completed"] / row["sessions"], 3),
        }
        for row in rows
    ]
