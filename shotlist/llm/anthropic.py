"""Anthropic's Messages API, with the answer given as the input of a forced tool call.

``POST {base}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``; the schema is a
tool's ``input_schema`` and ``tool_choice: {type: tool, name}`` makes the model call it, so the answer
is ``content[i].input`` of the ``tool_use`` block. In a repair round the earlier answer goes back as that
``tool_use`` and the problems as its ``tool_result`` with ``is_error: true``, as the protocol wants.
``stop_reason: refusal`` is a refusal; ``max_tokens`` means the answer was cut off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shotlist.llm import Answer, Ask, ChatClient, LlmRefused, Turn, Usage, WireRequest, count

ANTHROPIC_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


@dataclass
class AnthropicChat(ChatClient):
    """A Messages API client."""

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key, "anthropic-version": API_VERSION}

    def wire(self, ask: Ask) -> WireRequest:
        name = f"write_{ask.name}"
        tool = {
            "name": name,
            "description": f"Write the {ask.name}: the whole answer goes in this call's input.",
            "input_schema": ask.schema,
        }
        body = {
            "model": self.model,
            "max_tokens": ask.max_tokens,
            "system": ask.system,
            "messages": _messages(ask.turns, name),
            "tools": [tool],
            "tool_choice": {"type": "tool", "name": name},
        }
        return WireRequest("POST", f"{self.base_url}/v1/messages", self.headers(), body)

    async def send(self, ask: Ask) -> Answer:
        return self.read(await self.post(self.wire(ask)), self._answer)

    def _answer(self, body: Any) -> Answer:
        usage = body.get("usage")
        used = Usage(count(usage, "input_tokens"), count(usage, "output_tokens"))
        content = body.get("content") or []
        if not isinstance(content, list):
            raise self.malformed(body, "content is no list of blocks")
        blocks = [b for b in content if isinstance(b, dict)]
        said = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text").strip()
        if body.get("stop_reason") == "refusal":
            raise LlmRefused(f"{self.label} declined{': ' + said if said else ''}")
        call = next((b for b in blocks if b.get("type") == "tool_use"), None)
        if body.get("stop_reason") == "max_tokens":
            return Answer(None, said, used, str(call.get("id", "")) if call else "", "the answer was cut off")
        if call is None:
            raise LlmRefused(f"{self.label} gave no storyboard{': ' + said if said else ''}")
        data: Any = call.get("input")
        return Answer(data, said, used, str(call.get("id", "")))


def _messages(turns: tuple[Turn, ...], tool: str) -> list[dict[str, Any]]:
    """The conversation: an answer goes back as its tool call, the problems with it as that call's result."""
    out: list[dict[str, Any]] = []
    pending = ""  # the id of the tool call the next user turn answers
    for t in turns:
        if t.role == "assistant" and t.call_id:
            data = t.data if isinstance(t.data, dict) else {}
            block = {"type": "tool_use", "id": t.call_id, "name": tool, "input": data}
            out.append({"role": "assistant", "content": [block]})
            pending = t.call_id
        elif t.role == "user" and pending:
            content = [{"type": "tool_result", "tool_use_id": pending, "is_error": True, "content": t.text}]
            out.append({"role": "user", "content": content})
            pending = ""
        else:
            out.append({"role": t.role, "content": t.text})
    return out
