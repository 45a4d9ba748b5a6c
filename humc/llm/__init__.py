"""LLM backends: OpenAI-compatible chat completions with caching, retries and bounded concurrency."""

from __future__ import annotations

from humc.llm.client import (
    LLMClient,
    LLMRequest,
    LLMResponse,
    LLMStats,
    ModelConfig,
    cache_key,
    parse_json_text,
)

__all__ = ["LLMClient", "LLMRequest", "LLMResponse", "LLMStats", "ModelConfig", "cache_key",
           "parse_json_text"]
