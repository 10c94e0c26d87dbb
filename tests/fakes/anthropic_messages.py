"""A fake Anthropic Messages API on 127.0.0.1.

``POST /v1/messages`` with ``x-api-key`` (or ``Authorization: Bearer``) and ``anthropic-version`` → a ``message`` whose content is a
``tool_use`` block carrying the scripted answer as its ``input`` (the tool named by ``tool_choice``),
``stop_reason: tool_use`` and ``usage``. Checked as the API checks: ``max_tokens`` given, messages that
alternate and start with the user, tool names ``^[a-zA-Z0-9_-]{1,64}$`` with an object ``input_schema``,
a forced ``tool_choice`` naming a tool, and every ``tool_result`` answering a ``tool_use`` id of the
message just before. A refusal is ``stop_reason: refusal`` with text; errors are ``{type: error,
error: {type, message}}``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from tests.fakes.chat import ChatFake, Reply
from tests.fakes.server import Request, Response

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error(status: int, message: str) -> Response:
    kind = ERROR_TYPES.get(status, "api_error")
    return Response(
        status, {"type": "error", "error": {"type": kind, "message": message}}, {"request-id": "req_fake"}
    )


class FakeAnthropic(ChatFake):
    """The Messages API serving any claude-* model."""

    def __init__(self, script: list[Reply], key: str = "sk-ant-fake-0123456789") -> None:
        super().__init__(script, key)
        self.route("POST", r"/v1/messages", self.create)

    def create(self, req: Request, m: re.Match[str]) -> Response:
        # the API takes the key as x-api-key, and (as anthropic 2.x sends it) as a bearer token
        if self.key not in (
            req.headers.get("x-api-key"),
            req.headers.get("authorization", "").removeprefix("Bearer "),
        ):
            return error(401, "invalid x-api-key")
        if not req.headers.get("anthropic-version"):
            return error(400, "anthropic-version: header is required")
        taken = self.take(req, error)
        if isinstance(taken, Response):
            return taken
        body, reply = taken

        n_in = self.tokens([body.get("system"), body.get("messages"), body.get("tools")])
        if reply.refusal:
            content: list[dict[str, Any]] = [{"type": "text", "text": reply.refusal}]
            stop = "refusal"
        else:
            tool = (body.get("tool_choice") or {}).get("name") or body["tools"][0]["name"]
            data = reply.data if reply.text is None else {"text": reply.text}
            content = [
                {"type": "tool_use", "id": f"toolu_{secrets.token_hex(10)}", "name": tool, "input": data}
            ]
            stop = "max_tokens" if reply.cut_off else "tool_use"
        return Response(
            200,
            {
                "id": f"msg_{secrets.token_hex(10)}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": n_in, "output_tokens": self.tokens(content)},
            },
        )

    def request_problem(self, body: dict[str, Any]) -> str | None:
        if not str(body.get("model", "")).startswith("claude-"):
            return f"model: {body.get('model')}"
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            return "max_tokens: Field required"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
            return "messages: the first message must use the 'user' role"
        tools = body.get("tools") or []
        names = set()
        for i, tool in enumerate(tools):
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", str(tool.get("name", ""))):
                return f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            if (tool.get("input_schema") or {}).get("type") != "object":
                return f"tools.{i}.input_schema.type: Input should be 'object'"
            names.add(tool["name"])
        choice = body.get("tool_choice")
        if choice is not None and choice.get("type") == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: no tool named {choice.get('name')}"
        return _conversation_problem(messages)


def _conversation_problem(messages: list[Any]) -> str | None:
    previous: dict[str, Any] | None = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if previous is not None and previous["role"] == msg["role"]:
            return f"messages.{i}: roles must alternate between 'user' and 'assistant'"
        content = msg.get("content")
        blocks = content if isinstance(content, list) else []
        for block in blocks:
            if block.get("type") == "tool_result":
                asked = [
                    b.get("id")
                    for b in (previous or {}).get("content") or []
                    if isinstance(b, dict) and b.get("type") == "tool_use"
                ]
                if block.get("tool_use_id") not in asked:
                    return (
                        f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message."
                    )
        previous = msg
    return None
