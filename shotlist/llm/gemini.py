"""The Gemini API's generateContent, with the answer constrained by ``responseSchema``.

``POST {base}/v1beta/models/{model}:generateContent`` with ``x-goog-api-key``; ``systemInstruction``
holds the instructions, ``contents`` the conversation (the model's turns have role ``model``), and
``generationConfig: {responseMimeType: application/json, responseSchema}`` the schema in Gemini's
OpenAPI form (shotlist.llm.schema.gemini). The answer is the text of ``candidates[0].content.parts``.
A blocked prompt comes back as ``promptFeedback.blockReason`` with no candidate; a blocked answer as a
candidate whose ``finishReason`` is SAFETY, PROHIBITED_CONTENT, BLOCKLIST, SPII or RECITATION.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shotlist.llm import Answer, Ask, ChatClient, LlmRefused, Usage, WireRequest, count, parse_json
from shotlist.llm.schema import gemini

GEMINI_URL = "https://generativelanguage.googleapis.com"
BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY", "OTHER"}


@dataclass
class GeminiChat(ChatClient):
    """A generateContent client."""

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.key}

    def wire(self, ask: Ask) -> WireRequest:
        contents = [
            {"role": "model" if t.role == "assistant" else "user", "parts": [{"text": t.text}]}
            for t in ask.turns
        ]
        body = {
            "systemInstruction": {"parts": [{"text": ask.system}]},
            "contents": contents,
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": gemini(ask.schema),
                "maxOutputTokens": ask.max_tokens,
            },
        }
        url = f"{self.base_url}/v1beta/models/{self.model}:generateContent"
        return WireRequest("POST", url, self.headers(), body)

    async def send(self, ask: Ask) -> Answer:
        return self.read(await self.post(self.wire(ask)), self._answer)

    def _answer(self, body: Any) -> Answer:
        meta = body.get("usageMetadata")
        used = Usage(count(meta, "promptTokenCount"), count(meta, "candidatesTokenCount"))
        feedback = body.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            raise LlmRefused(f"{self.label} declined the request ({feedback['blockReason']})")
        candidates = body.get("candidates") or []
        if not candidates:
            raise self.malformed(body, "no candidates")
        first = candidates[0]
        reason = str(first.get("finishReason") or "")
        if reason in BLOCKED:
            raise LlmRefused(f"{self.label} declined to answer ({reason})")
        parts = (first.get("content") or {}).get("parts") or []
        text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and not p.get("thought"))
        return parse_json(text, used, cut_off=reason == "MAX_TOKENS")
