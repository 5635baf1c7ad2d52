"""DevOps and deployment files: a Dockerfile that serves the app, CI that runs the tests, a release
checklist and a deploy script."""

from __future__ import annotations

DOCKERFILE = """FROM python:3.11-slim
WORKDIR /srv
COPY . .
RUN pip install --no-cache-dir pytest && python -m pytest -q
EXPOSE 8000
USER nobody
CMD ["python", "-m", "app.server", "--host", "0.0.0.0", "--port", "8000"]
"""

CI = """name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: '3.11'}
      - run: pip install pytest
      - run: python -m pytest -q
      - run: python -c "import sqlite3; sqlite3.connect(':memory:').executescript(open('db/schema.sql').read())"
"""

DEPLOY = """#!/usr/bin/env bash
set -euo pipefail
image=${1:?usage: deploy.sh IMAGE}
echo "building $image"
docker build -t "$image" .
echo "smoke test: the API answers on /api"
container=$(docker run -d -p 127.0.0.1:8000:8000 "$image")
trap 'docker rm -f "$container" >/dev/null' EXIT
for _ in $(seq 1 20); do
  if curl -fs -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/api/nowhere | grep -q 404; then break; fi
  sleep 0.5
done
echo "pushing $image (the platform's deploy command goes here)"
"""


def checklist(spec: dict) -> str:
    first = spec["routes"][0]
    return (
        "# Release checklist\n\n1. CI green on the release commit (`python -m pytest -q`).\n"
        "2. `db/schema.sql` loads in a fresh SQLite database.\n"
        f"3. Build the image and smoke-test it: `{first['method']} {first['path']}` answers "
        f"{first['status']}.\n4. Roll out one instance, check it, then the rest.\n"
        "5. Roll back: redeploy the previous image (the store is in memory, so there is no data migration).\n"
    )


def devops_files(spec: dict) -> list[tuple[str, str, str]]:
    return [("Dockerfile", "code", DOCKERFILE), (".github/workflows/ci.yml", "code", CI)]


def deployment_files(spec: dict) -> list[tuple[str, str, str]]:
    return [("deploy/release-checklist.md", "docs", checklist(spec)), ("deploy/deploy.sh", "code", DEPLOY)]
