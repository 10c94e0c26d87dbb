"""A fake Gemini API ``generateContent`` on 127.0.0.1, with JSON answers under ``responseSchema``.

``POST /v1beta/models/{model}:generateContent`` with ``x-goog-api-key`` → ``{candidates: [{content:
{role: model, parts: [{text}]}, finishReason: STOP}], usageMetadata}``. The request is checked as the
Gemini API checks it: ``contents`` with roles ``user`` and ``model``, ``responseSchema`` only with
``responseMimeType: application/json``, and a schema made of the OpenAPI fields Gemini knows (upper-case
types; no ``$ref``, ``additionalProperties`` or ``const``: an unknown field is a 400 "Invalid JSON
payload received. Unknown name ..."; like any proto JSON, a field may be named in lowerCamelCase or in
snake_case). A refusal is ``promptFeedback.blockReason``; errors are
``{error: {code, message, status}}``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.chat import ChatFake, Reply
from tests.fakes.server import Request, Response

SCHEMA_FIELDS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}


def error(code: int, message: str) -> Response:
    return Response(
        code, {"error": {"code": code, "message": message, "status": STATUS.get(code, "INTERNAL")}}
    )


def schema_problem(schema: Any, where: str) -> str | None:
    """The 400 Gemini gives for a responseSchema it does not take, or None."""
    if not isinstance(schema, dict):
        return f"Invalid value at '{where}': expected an object"
    for key, value in schema.items():
        # proto JSON takes a field's lowerCamelCase name and its proto name (google-genai sends property_ordering)
        key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        if key not in SCHEMA_FIELDS:
            return f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
        if key == "type" and value not in TYPES:
            return f"Invalid value at '{where}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), \"{value}\""
    schema = {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): v for k, v in schema.items()}
    for name, sub in (schema.get("properties") or {}).items():
        if found := schema_problem(sub, f"{where}.properties[{name}].value"):
            return found
    if "items" in schema and (found := schema_problem(schema["items"], f"{where}.items")):
        return found
    for i, sub in enumerate(schema.get("anyOf") or []):
        if found := schema_problem(sub, f"{where}.any_of[{i}]"):
            return found
    return None


class FakeGemini(ChatFake):
    """generateContent for any gemini-* model."""

    def __init__(self, script: list[Reply], key: str = "gemini-fake-key-0123456789") -> None:
        super().__init__(script, key)
        self.route("POST", r"/v1beta/models/(?P<model>[\w.-]+):generateContent", self.generate)

    def generate(self, req: Request, m: re.Match[str]) -> Response:
        if req.headers.get("x-goog-api-key") != self.key and req.query.get("key") != [self.key]:
            return error(400, "API key not valid. Please pass a valid API key.")
        if not m["model"].startswith("gemini-"):
            return error(404, f"models/{m['model']} is not found for API version v1beta")
        taken = self.take(req, error)
        if isinstance(taken, Response):
            return taken
        body, reply = taken

        n_in = self.tokens([body.get("systemInstruction"), body.get("contents")])
        usage = {"promptTokenCount": n_in, "totalTokenCount": n_in}
        if reply.refusal:
            return Response(
                200,
                {
                    "promptFeedback": {"blockReason": "SAFETY"},
                    "usageMetadata": usage,
                    "modelVersion": m["model"],
                },
            )
        text = reply.answer_text()
        n_out = self.tokens(text)
        candidate = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "MAX_TOKENS" if reply.cut_off else "STOP",
            "index": 0,
        }
        usage = {"promptTokenCount": n_in, "candidatesTokenCount": n_out, "totalTokenCount": n_in + n_out}
        return Response(
            200,
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": m["model"],
                "responseId": "fake",
            },
        )

    def request_problem(self, body: dict[str, Any]) -> str | None:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        for i, c in enumerate(contents):
            if c.get("role") not in ("user", "model") or not c.get("parts"):
                return f"Please use a valid role: user, model. (contents[{i}])"
        config = body.get("generationConfig") or {}
        schema = config.get("responseSchema")
        if schema is not None:
            if config.get("responseMimeType") != "application/json":
                return "* GenerationConfig.response_schema: only supported with response_mime_type application/json"
            return schema_problem(schema, "generation_config.response_schema")
        return None
