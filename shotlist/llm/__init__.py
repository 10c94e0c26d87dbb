"""Language-model clients that answer with JSON matching a schema: OpenAI-compatible, Anthropic, Gemini.

One small protocol (``ChatClient``): ``wire(ask)`` is the exact HTTP request an ask becomes (what
``--dry-run`` prints) and ``send(ask)`` sends it through shotlist's shared httpx layer (retries with
backoff and Retry-After, secrets redacted) and reads the answer back as data, with its token use.
A conversation (``Ask.turns``) carries earlier answers and the problems found in them, so a model can
repair its own answer. Nothing here knows about storyboards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from shotlist.backends.base import BackendError, SubmitUnknown
from shotlist.backends.http import HttpLayer, RetryPolicy, redact, redact_headers
from shotlist.errors import ShotlistError

DEFAULT_TIMEOUT_S = 300.0  # a long storyboard from a local model on a CPU takes minutes


class LlmError(ShotlistError):
    """A language model could not be asked, or its answer cannot be used."""


class LlmRefused(LlmError):
    """The model declined to answer."""


class LlmSetupError(LlmError):
    """No model is configured (no key, no server) or the one named does not exist. Exit status 2."""

    exit_code = 2


@dataclass(frozen=True)
class Turn:
    """One message of the conversation. An assistant turn keeps its answer as data and the id of the call
    that carried it, because Anthropic wants an answer given through a tool sent back as that tool call."""

    role: Literal["user", "assistant"]
    text: str
    data: Any = None
    call_id: str = ""


@dataclass(frozen=True)
class Ask:
    """What to ask: instructions, the conversation so far and the JSON Schema the answer must match."""

    system: str
    turns: tuple[Turn, ...]
    schema: dict[str, Any]  # inlined, in the strict form (shotlist.llm.schema.strict)
    name: str = "storyboard"  # the schema's (or tool's) name
    max_tokens: int = 16_000


@dataclass(frozen=True)
class Usage:
    """Tokens read and written."""

    input: int = 0
    output: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input + other.input, self.output + other.output)


@dataclass(frozen=True)
class Answer:
    """What a model said: its JSON as data (None when it was no JSON), the raw text, the tokens it cost."""

    data: Any
    text: str
    usage: Usage
    call_id: str = ""
    problem: str | None = None  # why the text is no usable JSON: sent back to the model in a repair round


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request as it would go on the wire."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]

    def show(self) -> str:
        """The request as text, with every secret hidden."""
        head = "\n".join(f"{k}: {v}" for k, v in redact_headers(self.headers).items())
        return f"{self.method} {redact(self.url)}\n{head}\n\n{redact(json.dumps(self.body, indent=2))}"


@dataclass
class ChatClient:
    """Base of the three protocols: the provider, the model, where it is served, and how to reach it."""

    model: str
    base_url: str
    key: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    provider: str = ""
    label: str = ""  # how the user named it: 'openai/gpt-4.1-mini', 'ollama/llama3.1'
    _http: HttpLayer | None = field(default=None, repr=False)

    def wire(self, ask: Ask) -> WireRequest:
        raise NotImplementedError

    async def send(self, ask: Ask) -> Answer:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def local(self) -> bool:
        """A server on this machine or the local network: no per-token price."""
        host = httpx.URL(self.base_url).host
        return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.startswith(("192.168.", "10."))

    @property
    def http(self) -> HttpLayer:
        if self._http is None:
            timeout = httpx.Timeout(self.timeout_s, connect=10.0)
            # 4 tries: a 429 or a 5xx is waited out, a server that is not running is said in seconds
            policy = RetryPolicy(attempts=4, timeout=timeout)
            self._http = HttpLayer(self.label or self.provider, policy=policy, concurrency=1)
        return self._http

    async def post(self, request: WireRequest, ok: tuple[int, ...] = ()) -> httpx.Response:
        """Send one request. A chat request is paid by the token, so a lost answer is not resent blindly."""
        try:
            return await self.http.request(
                request.method, request.url, headers=request.headers, json=request.body, submit=True, ok=ok
            )
        except SubmitUnknown:
            raise LlmError(
                f"{self.label}: no answer within {self.timeout_s:g} s (the request may still be billed); "
                "try again, raise --timeout, or use a faster model"
            ) from None
        except BackendError as exc:
            raise LlmError(str(exc)) from None  # it names the provider and the model already

    def read(self, response: httpx.Response, parse: Callable[[Any], Answer]) -> Answer:
        """The answer in a response; ``parse`` reads the protocol's body. A body that bends the protocol (a
        proxy's error page, a list, a string where an object belongs) is an LlmError, never a traceback."""
        try:
            body = response.json()
        except ValueError:
            raise LlmError(
                f"{self.label}: the answer is not JSON (HTTP {response.status_code}): {redact(response.text[:200])}"
            ) from None
        try:
            return parse(body)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise self.malformed(body, f"{type(exc).__name__}: {exc}") from None

    def malformed(self, body: Any, why: str) -> LlmError:
        return LlmError(f"{self.label}: shotlist cannot read this answer ({why}): {redact(str(body)[:300])}")

    async def get_json(self, url: str) -> Any:
        try:
            return await self.http.json("GET", url, headers=self.headers())
        except BackendError as exc:
            raise LlmError(str(exc)) from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def parse_json(text: str, usage: Usage, call_id: str = "", cut_off: bool = False) -> Answer:
    """An answer from a model's text: its JSON, or the reason it is none (for a repair round)."""
    if cut_off:
        return Answer(None, text, usage, call_id, "the answer was cut off before it ended; write it shorter")
    body = text.strip()
    if body.startswith("```"):  # a fenced block from a model that ignored the JSON mode
        body = body.strip("`").removeprefix("json").strip()
    try:
        return Answer(json.loads(body), text, usage, call_id)
    except ValueError as exc:
        return Answer(None, text, usage, call_id, f"the answer is not valid JSON ({exc})")


def count(block: Any, name: str) -> int:
    """A token count from a usage block; 0 when a server leaves it out or garbles it (it only informs)."""
    value = block.get(name) if isinstance(block, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def env(*names: str) -> str:
    """The first of these environment variables that is set, else ''."""
    return next((v.strip() for n in names if (v := os.environ.get(n, "")).strip()), "")


def error_text(body: Mapping[str, Any] | Any) -> str:
    """The message of a provider's JSON error body (all three nest it under ``error``)."""
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            return str(err.get("message") or err)
        if isinstance(err, str):
            return err
    return str(body)[:300]
