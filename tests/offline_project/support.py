"""Build a whole offline project (every agent's files merged, as an export would) and run its tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from agents_app.offline_project import spec_for
from agents_app.offline_templates import AGENTS, offline_files

AWKWARD = ['Messages must be short"', "Channels have a topic '''\nwith a newline", 'end with """']

CASES = {
    "todo": ("build a todo list REST API with tests", ["Tasks may have a due date"], "feature"),
    "notes": ("a notes app", ["Notes have a title and an optional body"], "feature"),
    "blog": ("build a blog with comments", [], "feature"),
    "shop": ("an online shop", ["Orders may have a status"], "feature"),
    "booking": ("a booking system for meeting rooms", [], "feature"),
    "chat": ("build a chat app", ["Users can create channels"], "feature"),
    "dashboard": ("a metrics dashboard", [], "feature"),
    "unknown-noun": ("build an inventory tracker for warehouses",
                     ["Items have a SKU, a quantity and an optional location"], "feature"),
    "awkward": ('build a chat app"""', AWKWARD, "feature"),
    "password-reset": ("add password reset to the login flow", [], "feature"),
    "documentation": ("write API documentation for the orders service", ["use pagination"], "documentation"),
}  # fmt: skip
CRUD_CASES = [c for c in CASES if c not in ("password-reset", "documentation")]


def project_files(intent: str, requirements: list[str], task_type: str = "feature", **extra: object) -> dict:
    """Every agent's files for one session, merged by path (the reviewer reads the others)."""
    spec = spec_for(intent, requirements, task_type)
    files: dict[str, object] = {}
    for agent in AGENTS:
        if agent == "reviewer":
            continue
        for file in offline_files(agent, intent=intent, requirements=requirements, visual_context={},
                                  task_type=task_type, spec=spec, **extra):  # fmt: skip
            assert file.path not in files, f"two agents write {file.path}"
            files[file.path] = file
    contents = {path: f.content for path, f in files.items()}
    review = offline_files("reviewer", intent=intent, requirements=requirements, visual_context={},
                           task_type=task_type, spec=spec, files=contents)  # fmt: skip
    files.update({f.path: f for f in review})
    return files


def write(root: Path, files: dict) -> Path:
    for path, file in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content if hasattr(file, "content") else file, encoding="utf-8")
    return root


def run_pytest(root: Path) -> tuple[int, str, int]:
    """(exit code, output, tests passed) of `python -m pytest` in `root`, as a person would run it."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    passed = re.search(r"(\d+) passed", output)
    return result.returncode, output, int(passed.group(1)) if passed else 0


def routes_of(root: Path) -> list[tuple[str, str]]:
    """The routes the generated app/api.py really serves (imported in a subprocess)."""
    code = "import json; from app.api import ROUTES; print(json.dumps([[m, p] for m, p, _ in ROUTES]))"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})  # fmt: skip
    return [tuple(r) for r in json.loads(result.stdout)]
