"""LLM providers: `anthropic` (the official SDK) and `offline` (deterministic, no network)."""

from __future__ import annotations

from django.conf import settings

from agents_app.llm.base import LLMProvider


def get_provider(name: str | None = None) -> LLMProvider:
    name = name or settings.HARNESS_LLM
    if name == "anthropic":
        from agents_app.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(
            api_key=settings.ANTHROPIC_API_KEY,
            base_url=settings.ANTHROPIC_BASE_URL or None,
            model=settings.HARNESS_LLM_MODEL,
        )
    if name == "offline":
        from agents_app.llm.offline import OfflineProvider

        return OfflineProvider()
    raise ValueError(f"HARNESS_LLM={name!r} is not a provider; use 'offline' or 'anthropic'.")
