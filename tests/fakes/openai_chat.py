"""A fake OpenAI-compatible chat completions server on 127.0.0.1 (OpenAI, and what Ollama, vLLM,
llama.cpp's server and LM Studio copy of it).

``POST /v1/chat/completions`` (``Authorization: Bearer KEY`` unless the fake is keyless, like a local
server) → ``chat.completion`` with ``choices[0].message.content`` (or ``message.refusal``) and ``usage``;
``GET /v1/models`` lists the served model. Structured outputs are checked as OpenAI checks them: a
``strict`` json_schema must close every object (``additionalProperties: false``) and list every property
in ``required``, and a ``$ref`` may have no siblings; ``json_object`` mode needs the word "json" in the
messages. ``json_schema=False`` makes a server that knows only ``json_object`` (a 400 naming
``response_format``, as older llama.cpp and vLLM builds answer). Errors are ``{error: {message, type,
code}}``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from tests.fakes.chat import ChatFake, Reply
from tests.fakes.server import Request, Response

ROLES = {"system", "developer", "user", "assistant", "tool"}


def error(status: int, message: str, code: str | None = None) -> Response:
    kind = "requests" if status == 429 else "invalid_request_error"
    code = code or ("rate_limit_exceeded" if status == 429 else None)
    return Response(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


def strict_problem(schema: Any, where: tuple[str, ...] = ()) -> str | None:
    """Why OpenAI would refuse ``schema`` in strict mode, or None."""
    if not isinstance(schema, dict):
        return None
    context = f"In context={where!r}, "
    if "$ref" in schema and len(schema) > 1:
        return (
            context
            + "$ref cannot have keywords {"
            + ", ".join(sorted(k for k in schema if k != "$ref"))
            + "}."
        )
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return context + "'additionalProperties' is required to be supplied and to be false."
        missing = [k for k in props if k not in (schema.get("required") or [])]
        if missing:
            return (
                context + "'required' is required to be supplied and to be an array including every key in "
                f"properties. Missing '{missing[0]}'."
            )
        for k, v in props.items():
            if found := strict_problem(v, (*where, "properties", k)):
                return found
    for key in ("items",):
        if found := strict_problem(schema.get(key), (*where, key)):
            return found
    for i, v in enumerate(schema.get("anyOf") or []):
        if found := strict_problem(v, (*where, "anyOf", str(i))):
            return found
    for name, v in (schema.get("$defs") or {}).items():
        if found := strict_problem(v, (*where, "$defs", name)):
            return found
    return None


class FakeOpenAIChat(ChatFake):
    """An OpenAI-compatible server serving one model. ``key=""``: no key needed (a local server)."""

    def __init__(
        self, script: list[Reply], key: str = "", *, model: str = "fake-llm", json_schema: bool = True
    ) -> None:
        super().__init__(script, key)
        self.model = model
        self.json_schema = json_schema
        self.route("POST", r"/v1/chat/completions", self.complete)
        self.route("GET", r"/v1/models", self.models)

    def _unauthorised(self, req: Request) -> Response | None:
        if self.key and req.headers.get("authorization") != f"Bearer {self.key}":
            return error(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def models(self, req: Request, m: re.Match[str]) -> Response:
        if denied := self._unauthorised(req):
            return denied
        return Response(
            200,
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}],
            },
        )

    def complete(self, req: Request, m: re.Match[str]) -> Response:
        if denied := self._unauthorised(req):
            return denied
        taken = self.take(req, error)
        if isinstance(taken, Response):
            return taken
        body, reply = taken

        content = None if reply.refusal else reply.answer_text()
        message = {"role": "assistant", "content": content, "refusal": reply.refusal}
        finish = "length" if reply.cut_off else "stop"
        n_in, n_out = self.tokens(body.get("messages")), self.tokens(content or reply.refusal or "")
        return Response(
            200,
            {
                "id": f"chatcmpl-{secrets.token_hex(8)}",
                "object": "chat.completion",
                "created": 1_763_900_000,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
                "system_fingerprint": "fp_fake",
            },
        )

    def request_problem(self, body: dict[str, Any]) -> str | None:
        if body.get("model") != self.model:
            return f"The model `{body.get('model')}` does not exist or you do not have access to it."
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        for i, msg in enumerate(messages):
            if (
                not isinstance(msg, dict)
                or msg.get("role") not in ROLES
                or not isinstance(msg.get("content"), (str, list))
            ):
                return f"Invalid value for 'messages[{i}]': each message needs a role and content"
        fmt = body.get("response_format")
        if fmt is None:
            return None
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_schema":
            if not self.json_schema:
                return "response_format type 'json_schema' is not supported by this server; use 'json_object'"
            spec = fmt.get("json_schema") or {}
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", str(spec.get("name", ""))):
                return "Invalid 'response_format.json_schema.name': must match ^[a-zA-Z0-9_-]{1,64}$"
            if spec.get("strict"):
                if (spec.get("schema") or {}).get("type") != "object":
                    return (
                        f"Invalid schema for response_format '{spec.get('name')}': the root must be an object"
                    )
                if found := strict_problem(spec.get("schema")):
                    return f"Invalid schema for response_format '{spec.get('name')}': {found}"
        elif kind == "json_object":
            if not any("json" in str(msg.get("content")).lower() for msg in messages):
                return "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
        elif kind != "text":
            return f"Invalid value for 'response_format.type': '{kind}'"
        return None
