"""The files the offline provider writes, per agent: one coherent, runnable project per session.

Deterministic and network-free. Not a model: `agents_app.offline_project.spec_for` reads the
intent and requirements into one spec (entities with typed required/optional fields, relations,
routes), computed once at planning and passed to every agent, and each agent renders its part of
the project from it — a standard-library WSGI API with its tests, a front end that posts exactly the
fields the API requires, an SQLite schema, and documents that name only routes that exist. Every
file says in its first line that the offline provider wrote it, every Python file is parsed before
it is returned, and user text reaches files only through `repr`, `json.dumps`, `html.escape` or a
one-line sanitiser.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents_app.offline_project import backend, database, docs, frontend, ops, reset, review, testgen
from agents_app.offline_project.spec import spec_for
from agents_app.offline_project.text import checked_python, extension, feedback_lines, header, prose

LANGUAGES = {"py": "python", "md": "markdown", "sql": "sql", "html": "html", "js": "javascript", "css": "css",
             "yml": "yaml", "sh": "bash", "ini": "ini", "docker": "docker"}  # fmt: skip


@dataclass(frozen=True)
class OfflineFile:
    path: str
    kind: str  # "code" | "docs" | "tests"
    language: str
    content: str


@dataclass(frozen=True)
class Brief:
    agent: str
    intent: str
    requirements: list[str]
    visual: dict
    task_type: str
    feedback: list[str]
    spec: dict
    files: dict[str, str] | None


def _render(brief: Brief, path: str, kind: str, body: str) -> OfflineFile:
    first = header(brief.agent, brief.intent, path)
    if body.startswith("#!"):  # a shebang stays the first line; the header comes right after it
        shebang, _, rest = body.partition("\n")
        content = f"{shebang}\n{first}\n{rest.rstrip()}\n{feedback_lines(brief.feedback, path)}"
    else:
        content = f"{first}\n{body.rstrip()}\n{feedback_lines(brief.feedback, path)}"
    if path.endswith(".py"):
        checked_python(path, content)
    return OfflineFile(path, kind, LANGUAGES.get(extension(path), "text"), content)


def _generic(brief: Brief) -> list[tuple[str, str, str]]:
    body = (
        f"# Notes from {prose(brief.agent, 60)}\n\n## Intent\n{prose(brief.intent)}\n\n"
        f"## Requirements\n{docs.requirement_list(brief.requirements)}\n\n## Routes in this session's spec\n"
        + "".join(f"- `{line}`\n" for line in docs.route_lines(brief.spec))
    )
    return [(f"docs/{brief.agent}-notes.md", "docs", body)]


AGENTS = {
    "requirements-analyst": lambda b: [("docs/requirements.md", "docs", docs.requirements_doc(b.spec, b.intent, b.requirements))],
    "ux-designer": lambda b: [("docs/ui-spec.md", "docs", docs.ui_spec(b.spec, b.requirements, b.visual))],
    "architect": lambda b: [("docs/architecture.md", "docs", docs.architecture(b.spec))],
    "database": lambda b: database.files(b.spec),
    "backend": lambda b: backend.files(
        b.spec, reset.api_source(b.spec) if b.spec["kind"] == "password_reset" else None
    ),
    "frontend": lambda b: frontend.files(b.spec, b.visual),
    "test-engineer": lambda b: testgen.files(b.spec),
    "reviewer": lambda b: [("docs/review.md", "docs", review.review_markdown(b.spec, b.files))],
    "docs-writer": lambda b: docs.docs_files(b.spec, b.intent, b.requirements),
    "devops": lambda b: ops.devops_files(b.spec),
    "deployment": lambda b: ops.deployment_files(b.spec),
}  # fmt: skip


def offline_files(
    agent_slug: str,
    *,
    intent: str,
    requirements: list[str],
    visual_context: dict | None = None,
    task_type: str = "feature",
    feedback: list[str] | None = None,
    spec: dict | None = None,
    files: dict[str, str] | None = None,
) -> list[OfflineFile]:
    """The files `agent_slug` writes for this session; `spec` defaults to `spec_for(intent, requirements, task_type)`.

    `files` (path → content) is what the reviewer reads; without it the review says it had none.
    """
    requirements = [str(r) for r in requirements]
    spec = spec if spec is not None else spec_for(intent, requirements, task_type)
    brief = Brief(agent_slug, str(intent), requirements, dict(visual_context or {}), task_type,
                  [str(f) for f in feedback or []], spec, files)  # fmt: skip
    return [_render(brief, path, kind, body) for path, kind, body in AGENTS.get(agent_slug, _generic)(brief)]
