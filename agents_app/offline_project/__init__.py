"""The offline provider's project generator: one spec per session (`spec_for`), files per agent
(`files_for`). See `agents_app.offline_templates.offline_files`, the entry point the offline provider calls."""

from agents_app.offline_project.spec import spec_for

__all__ = ["spec_for"]
