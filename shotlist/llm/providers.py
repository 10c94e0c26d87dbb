"""Which language model to ask: ``--llm PROVIDER/MODEL``, else ``SHOTLIST_LLM``, else the first provider
the environment configures — never a silent fallback: with nothing configured the command says which
variables to set and exits 2.

Providers and their environment, named as the official SDKs name them:

- ``openai``: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (any OpenAI-compatible server: OpenAI, OpenRouter,
  Ollama, vLLM, llama.cpp's server, LM Studio; a local server needs no key);
- ``ollama``, ``lmstudio``, ``llamacpp``, ``vllm``: the same protocol at those servers' default local
  addresses; ``openrouter``: OpenRouter with ``OPENROUTER_API_KEY`` (or ``OPENAI_API_KEY``);
- ``anthropic``: ``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``;
- ``gemini``: ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``.
"""

from __future__ import annotations

from shotlist.backends.http import register_secret
from shotlist.errors import did_you_mean
from shotlist.llm import DEFAULT_TIMEOUT_S, ChatClient, LlmSetupError, env
from shotlist.llm.anthropic import ANTHROPIC_URL, AnthropicChat
from shotlist.llm.gemini import GEMINI_URL, GeminiChat
from shotlist.llm.openai import OPENAI_URL, OpenAIChat

#: OpenAI-compatible servers by name: their default address and the variables that may hold a key.
COMPATIBLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "openrouter": ("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY", "OPENAI_API_KEY")),
    "ollama": ("http://127.0.0.1:11434/v1", ()),
    "lmstudio": ("http://127.0.0.1:1234/v1", ()),
    "llamacpp": ("http://127.0.0.1:8080/v1", ()),
    "vllm": ("http://127.0.0.1:8000/v1", ()),
}
DEFAULT_MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash"}
PROVIDERS = ("openai", "anthropic", "gemini", *COMPATIBLE)

NOTHING_CONFIGURED = (
    "no language model is configured. Set one of:\n"
    "  OPENAI_API_KEY                   OpenAI (and OPENAI_BASE_URL for another OpenAI-compatible service)\n"
    "  OPENAI_BASE_URL                  a local OpenAI-compatible server: Ollama, vLLM, llama.cpp, LM Studio\n"
    "  ANTHROPIC_API_KEY                Anthropic\n"
    "  GEMINI_API_KEY or GOOGLE_API_KEY Google Gemini\n"
    "or name one with --llm PROVIDER/MODEL (e.g. --llm ollama/llama3.1). shotlist never invents a storyboard"
)


def chat_for(spec: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> ChatClient:
    """The client for ``PROVIDER/MODEL`` (the model may be left out); LlmSetupError when it cannot be reached."""
    spec = spec or env("SHOTLIST_LLM") or _configured()
    provider, _, model = spec.partition("/")
    provider = provider.strip().lower()
    if provider not in PROVIDERS:
        raise LlmSetupError(
            f"--llm {spec}: no provider '{provider}'{did_you_mean(provider, PROVIDERS)}; "
            f"the providers are: {', '.join(PROVIDERS)}"
        )
    client = _client(provider, model.strip(), timeout_s)
    client.label = f"{provider}/{client.model or '?'}"
    if client.key:
        register_secret(client.key)
    return client


def _configured() -> str:
    """The first provider the environment configures."""
    if env("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        return "openai"
    if env("ANTHROPIC_API_KEY"):
        return "anthropic"
    if env("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        return "gemini"
    raise LlmSetupError(NOTHING_CONFIGURED)


def _client(provider: str, model: str, timeout_s: float) -> ChatClient:
    if provider == "anthropic":
        key = _key(provider, "ANTHROPIC_API_KEY")
        base = env("ANTHROPIC_BASE_URL").rstrip("/") or ANTHROPIC_URL
        return AnthropicChat(model or DEFAULT_MODELS[provider], base, key, timeout_s, provider)
    if provider == "gemini":
        key = _key(provider, "GEMINI_API_KEY", "GOOGLE_API_KEY")
        base = env("GOOGLE_GEMINI_BASE_URL").rstrip("/") or GEMINI_URL
        return GeminiChat(model or DEFAULT_MODELS[provider], base, key, timeout_s, provider)
    if provider == "openai":
        base = env("OPENAI_BASE_URL").rstrip("/") or OPENAI_URL
        own = base == OPENAI_URL
        key = _key(provider, "OPENAI_API_KEY", also="OPENAI_BASE_URL") if own else env("OPENAI_API_KEY")
        # a model a server does not name is asked of the server itself (settle_model)
        return OpenAIChat(model or (DEFAULT_MODELS[provider] if own else ""), base, key, timeout_s, provider)
    base, names = COMPATIBLE[provider]
    key = _key(provider, *names) if names else ""
    return OpenAIChat(model, base, key, timeout_s, provider)


def _key(provider: str, *names: str, also: str = "") -> str:
    key = env(*names)
    if not key:
        other = f", or {also} for a server that needs none" if also else ""
        raise LlmSetupError(
            f"{provider}: set {' or '.join(names)} in the environment{other} "
            "(shotlist never stores keys in files)"
        )
    return key


async def settle_model(client: ChatClient) -> None:
    """Give an OpenAI-compatible client with no model the one its server serves (exit 2 when ambiguous)."""
    if client.model or not isinstance(client, OpenAIChat):
        return
    names = await client.models()
    if len(names) != 1:
        listed = ", ".join(names[:12]) if names else "none"
        raise LlmSetupError(
            f"{client.provider} at {client.base_url} serves {len(names)} models ({listed}); "
            f"name one with --llm {client.provider}/MODEL"
        )
    client.model = names[0]
    client.label = client.http.provider = f"{client.provider}/{client.model}"
