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
from humc.llm.provenance import ServedBy

__all__ = ["LLMClient", "LLMRequest", "LLMResponse", "LLMStats", "ModelConfig", "ServedBy", "cache_key",
           "parse_json_text"]
