"""The tools an agent may call, as the LLM sees them.

The provider sends them as strict tools (`strict: true`), so each input schema stays inside the
structured-outputs subset: every object sets `additionalProperties: false`, and bounds the subset does
not accept (e.g. `minimum` / `maximum`) are said in the description instead — the toolbox still
checks them.
"""

from __future__ import annotations

from agents_app.llm.base import ToolSpec

TOOL_SPECS: dict[str, ToolSpec] = {
    "list_files": ToolSpec(
        name="list_files",
        description="List the files in the session workspace with their latest version numbers.",
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    ),
    "read_file": ToolSpec(
        name="read_file",
        description="Read the latest version of a file in the session workspace.",
        input_schema={
            "type": "object",
            "properties": {"path": {"type": "string", "description": "Relative path, e.g. app/models.py"}},
            "required": ["path"],
            "additionalProperties": False,
        },
    ),
    "write_file": ToolSpec(
        name="write_file",
        description=(
            "Create or replace a file in the session workspace (a new version). If another agent changed the "
            "file since you last read it, the write is refused with the current content: merge and write again."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "content": {"type": "string"},
                "kind": {"type": "string", "enum": ["code", "docs", "tests"]},
            },
            "required": ["path", "content"],
            "additionalProperties": False,
        },
    ),
    "run_checks": ToolSpec(
        name="run_checks",
        description=(
            "Run the session's checks on the files as they are now, in a sandbox: Python compiles, ruff, pytest, "
            "SQL loads in SQLite, JavaScript parses and its tests run. Returns each check's status and findings "
            "(path, line, message). Use it before you finish, and fix what fails."
        ),
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    ),
    "request_approval": ToolSpec(
        name="request_approval",
        description="Ask a lead to approve a decision before you act on it. You resume when they decide.",
        input_schema={
            "type": "object",
            "properties": {"action": {"type": "string"}, "summary": {"type": "string"}},
            "required": ["action", "summary"],
            "additionalProperties": False,
        },
    ),
    "ask_human": ToolSpec(
        name="ask_human",
        description=(
            "Ask the people on this session one question you cannot go on without (a choice only they can make). "
            "You stop until the first collaborator answers; the answer comes back as this call's result. Ask "
            "rarely, and say the options if there are any."
        ),
        input_schema={
            "type": "object",
            "properties": {"question": {"type": "string", "description": "One clear question."}},
            "required": ["question"],
            "additionalProperties": False,
        },
    ),
    "report_progress": ToolSpec(
        name="report_progress",
        description="Tell the team how far you are (0-100) and what you are doing.",
        input_schema={
            "type": "object",
            "properties": {
                "percent": {"type": "integer", "description": "How far you are, from 0 to 100."},
                "message": {"type": "string"},
            },
            "required": ["percent", "message"],
            "additionalProperties": False,
        },
    ),
    "finish": ToolSpec(
        name="finish",
        description="Finish your work with a short summary of what you produced.",
        input_schema={
            "type": "object",
            "properties": {"summary": {"type": "string"}},
            "required": ["summary"],
            "additionalProperties": False,
        },
    ),
}


#: Tools every agent has, whatever its definition lists.
ALWAYS = frozenset({"finish", "report_progress", "ask_human"})


def tools_for(names: list[str]) -> list[ToolSpec]:
    """The agent's tools in a stable order (a stable prefix keeps the prompt cache warm); every agent may report
    progress, ask the people a question and finish."""
    allowed = [name for name in TOOL_SPECS if name in set(names) | ALWAYS]
    return [TOOL_SPECS[name] for name in allowed]
