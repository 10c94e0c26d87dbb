"""The OpenAI-compatible chat completions protocol: OpenAI, OpenRouter, Ollama, vLLM, llama.cpp, LM Studio.

``POST {base}/chat/completions`` with ``Authorization: Bearer $OPENAI_API_KEY`` (a local server needs
none) and ``response_format: {type: json_schema, json_schema: {name, schema, strict: true}}``. A server
that does not know json_schema (older llama.cpp and vLLM builds, some proxies) answers 400 naming
``response_format``; the client then falls back to ``{type: json_object}`` with the schema written into
the instructions, for the rest of the conversation. The answer is ``choices[0].message.content``; a
refusal comes as ``message.refusal`` with no content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shotlist.llm import (
    Answer,
    Ask,
    ChatClient,
    LlmError,
    LlmRefused,
    Usage,
    WireRequest,
    count,
    error_text,
    parse_json,
)

OPENAI_URL = "https://api.openai.com/v1"


@dataclass
class OpenAIChat(ChatClient):
    """A chat-completions client; ``json_schema`` turns off when the server lacks structured outputs."""

    json_schema: bool = True

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def wire(self, ask: Ask) -> WireRequest:
        system = ask.system
        if self.json_schema:
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {"name": ask.name, "schema": ask.schema, "strict": True},
            }
        else:
            response_format = {"type": "json_object"}
            system += (
                "\n\nAnswer with one JSON object (no prose, no code fence) that matches this JSON Schema:\n"
                + json.dumps(ask.schema)
            )
        messages = [{"role": "system", "content": system}]
        messages += [{"role": t.role, "content": t.text} for t in ask.turns]
        # OpenAI's newer models refuse max_tokens; the servers that copy the protocol mostly know only it
        limit = "max_completion_tokens" if self.base_url == OPENAI_URL else "max_tokens"
        body = {
            "model": self.model,
            "messages": messages,
            "response_format": response_format,
            limit: ask.max_tokens,
        }
        return WireRequest("POST", f"{self.base_url}/chat/completions", self.headers(), body)

    async def send(self, ask: Ask) -> Answer:
        response = await self.post(self.wire(ask), ok=(400, 422) if self.json_schema else ())
        if response.status_code in (400, 422):
            message = error_text(_json(response))
            if "response_format" in message or "json_schema" in message:
                self.json_schema = False  # this server has JSON mode only: say the schema in words
                response = await self.post(self.wire(ask))
            else:
                raise LlmError(f"{self.label}: HTTP {response.status_code}: {message}")
        return self.read(response, self._answer)

    def _answer(self, body: Any) -> Answer:
        choices = body["choices"]
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self.malformed(body, "no choices")
        choice = choices[0]
        message = choice["message"]
        used = Usage(count(body.get("usage"), "prompt_tokens"), count(body.get("usage"), "completion_tokens"))
        if message.get("refusal"):
            raise LlmRefused(f"{self.label} declined: {message['refusal']}")
        if choice.get("finish_reason") == "content_filter":
            raise LlmRefused(f"{self.label} declined: its content filter stopped the answer")
        content = message.get("content") or ""
        if isinstance(content, list):  # some servers send the text as parts: [{type: text, text}]
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return parse_json(str(content), used, cut_off=choice.get("finish_reason") == "length")

    async def models(self) -> list[str]:
        """The model ids the server lists (``GET /models``)."""
        body = await self.get_json(f"{self.base_url}/models")
        data = body.get("data") if isinstance(body, dict) else None
        return [str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")]


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        raise LlmError(f"the server answered with non-JSON (HTTP {response.status_code})") from None
