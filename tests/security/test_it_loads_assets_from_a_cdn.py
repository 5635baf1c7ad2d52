"""Attack (issue 14.10): a page without a Content-Security-Policy runs whatever script an injection smuggles in,
and /api/docs/ pulled swagger-ui-dist@latest from a CDN — unpinned code on our origin, and a blank page offline.

Now every response carries a strict CSP (scripts and styles from our origin only, no framing), and the docs
page is drf-spectacular-sidecar's pinned files served by us, its init script a file instead of inline code."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:  # noqa: ANN001
    header = response.headers.get("Content-Security-Policy", "")
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {d[0]: d[1:] for d in directives}


@pytest.fixture
def member_client(cast) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(cast["member"])
    return client


@pytest.mark.parametrize(
    "path", ["/development/", "/development/new/", "/analytics/", "/knowledge/", "/admin/", "/api/docs/"]
)
def test_it_sends_a_strict_policy_with_every_page(member_client, path) -> None:  # noqa: ANN001
    response = member_client.get(path, follow=True)
    assert response.status_code == 200
    policy = _policy(response)
    assert policy.get("default-src") == ["'self'"]
    assert policy.get("script-src") == ["'self'"], "no 'unsafe-inline', no 'unsafe-eval', no other host"
    assert policy.get("style-src") == ["'self'"]
    assert policy.get("object-src") == ["'none'"]
    assert policy.get("frame-ancestors") == ["'none'"]
    assert policy.get("base-uri") == ["'self'"]
    assert policy.get("form-action") == ["'self'"]
    assert set(policy.get("img-src", [])) == {"'self'", "data:", "blob:"}
    assert policy.get("connect-src") == ["'self'"]


def test_it_sends_the_policy_on_the_login_page_and_the_api(cast, api) -> None:  # noqa: ANN001
    assert _policy(Client().get("/accounts/login/")).get("script-src") == ["'self'"]
    assert _policy(api(cast["member"]).get("/api/v1/organizations/")).get("frame-ancestors") == ["'none'"]


def test_it_serves_the_api_docs_without_a_cdn(member_client) -> None:  # noqa: ANN001
    html = member_client.get("/api/docs/").content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, html
    assert not [u for u in urls if "//" in u], f"the docs page loads from another host: {urls}"
    assert "cdn" not in html.lower() and "swagger-ui-dist@" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script needs 'unsafe-inline'"
    assert "<style" not in html and "style=" not in html, "an inline style needs 'unsafe-inline'"
    assets = [u for u in urls if u.endswith((".js", ".css", ".png")) or "script=" in u]
    assert any("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in u for u in assets), assets
    for url in assets:
        response = member_client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert body, url


def test_it_keeps_inline_scripts_out_of_our_templates() -> None:
    """CSP would block them: handlers are attached in static/harness/*.js (json_script data blocks are fine)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    offenders = []
    for template in root.rglob("*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\b(src=|type=\"application/json\"))[^>]*>", text):
            offenders.append(f"{template.name}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{template.name}: inline event handler")
        if re.search(r"\sstyle\s*=|<style", text):
            offenders.append(f"{template.name}: inline style")
    assert not offenders, offenders
