"""HTTP calls to the Harness API, with one-line errors a person can act on."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_AUTH, EXIT_NOT_FOUND = 1, 2, 3, 4, 5


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class Client:
    def __init__(
        self, url: str, token: str | None, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Token {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    # -- plumbing ------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise CliError(f"cannot reach {self.url} ({exc}); is the Harness server running?", EXIT_UNREACHABLE)
        except httpx.TimeoutException:
            raise CliError(f"{self.url} did not answer in time; try again.", EXIT_UNREACHABLE)
        return self._checked(response)

    def _checked(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json() if "json" in response.headers.get("content-type", "") else response.content
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text[:200] or response.reason_phrase
        if response.status_code == 401:
            raise CliError(f"not logged in or bad token: {detail} (run `harness login`)", EXIT_AUTH)
        if response.status_code == 404:
            raise CliError(f"not found: {detail}", EXIT_NOT_FOUND)
        raise CliError(f"{response.status_code}: {detail}", EXIT_FAILED)

    # -- API -----------------------------------------------------------------------------------

    def token(self, username: str, password: str) -> str:
        return self.request("POST", "/api/v1/auth/token/", json={"username": username, "password": password})["token"]

    def organizations(self) -> list[dict]:
        return self.request("GET", "/api/v1/organizations/")

    def create_session(
        self,
        *,
        organization: str,
        intent: str,
        requirements: list[str],
        screenshots: list[Path],
        agents: list[str],
        strategy: str | None,
        task_type: str | None = None,
        parent: str | None = None,
    ) -> dict:
        data: list[tuple[str, str]] = [("organization", organization), ("intent", intent)]
        data += [("requirements", r) for r in requirements] + [("agents", a) for a in agents]
        optional = {"execution_strategy": strategy, "task_type": task_type, "parent": parent}
        data += [(name, value) for name, value in optional.items() if value]
        files = []
        for path in screenshots:
            if not path.is_file():
                raise CliError(f"{path}: no such file", EXIT_USAGE)
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files.append(("screenshots", (path.name, path.read_bytes(), media)))
        return self.request("POST", "/api/v1/sessions/", data=dict_multi(data), files=files or None)

    def sessions(self, params: dict[str, str | int]) -> dict:
        """One page of the caller's sessions, newest first: {next, previous, results}."""
        return self.request("GET", "/api/v1/sessions/", params=params)

    def session(self, session_id: str) -> dict:
        return self.request("GET", f"/api/v1/sessions/{session_id}/")

    def events(self, session_id: str, after: int) -> dict:
        return self.request("GET", f"/api/v1/sessions/{session_id}/events/", params={"after": after})

    def action(self, session_id: str, action: str, run_id: str | None = None) -> dict:
        path = f"/api/v1/sessions/{session_id}/" + (f"runs/{run_id}/" if run_id else "") + f"{action}/"
        return self.request("POST", path)

    def feedback(self, session_id: str, text: str) -> dict:
        return self.request("POST", f"/api/v1/sessions/{session_id}/feedback/", json={"text": text})

    def say(self, session_id: str, text: str, reply_to: str | None = None) -> dict:
        """A message in the session's thread; a reply to an agent's question answers it."""
        body = {"text": text, "reply_to": reply_to}
        return self.request("POST", f"/api/v1/sessions/{session_id}/conversation/", json=body)

    def decide(self, approval_id: str, decision: str, comment: str) -> dict:
        return self.request(
            "POST", f"/api/v1/approvals/{approval_id}/decide/", json={"decision": decision, "comment": comment}
        )

    def approvals(self, session_id: str) -> list[dict]:
        return self.request("GET", f"/api/v1/sessions/{session_id}/approvals/", params={"status": "pending"})

    def artifacts(self, session_id: str) -> list[dict]:
        return self.request("GET", f"/api/v1/sessions/{session_id}/artifacts/")

    def stream_lines(self, session_id: str, after: int) -> Iterator[str]:
        """The raw SSE lines of the session's stream, replaying from `after`."""
        headers = {"Last-Event-ID": str(after), "Accept": "text/event-stream"}
        timeout = httpx.Timeout(10.0, read=60.0)
        try:
            with self.http.stream(
                "GET", f"/api/v1/sessions/{session_id}/stream/", headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._checked(response)
                yield from response.iter_lines()
        except httpx.ConnectError as exc:
            raise CliError(f"cannot reach {self.url} ({exc}); is the Harness server running?", EXIT_UNREACHABLE)


def dict_multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """httpx sends a list value as repeated form fields."""
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out
