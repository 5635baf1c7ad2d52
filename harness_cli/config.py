"""Where the CLI finds the server and its token: flags, then HARNESS_URL/HARNESS_TOKEN, then the login file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "harness" / "config.json"


@dataclass(frozen=True)
class Config:
    url: str
    token: str | None


def load(url: str | None = None, token: str | None = None) -> Config:
    saved: dict = {}
    path = config_path()
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
    return Config(
        url=(url or os.environ.get("HARNESS_URL") or saved.get("url") or DEFAULT_URL).rstrip("/"),
        token=token or os.environ.get("HARNESS_TOKEN") or saved.get("token"),
    )


def save(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "token": token}))
    path.chmod(0o600)
    return path
