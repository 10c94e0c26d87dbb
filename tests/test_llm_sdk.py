"""Keep the language-model fakes honest: the official SDKs (openai, anthropic, google-genai) drive them.

Each SDK sends its own requests (its own strict schema, its own tool-use conversation, its own
responseSchema form) and must get through the fake's checks, parse the fake's answers, and read its
refusals and rate limits as it reads the real service's. The same fakes then test shotlist's clients.
"""

from __future__ import annotations

import time
from typing import Any

import pydantic
import pytest

from shotlist.draft.form import draft_schema
from shotlist.llm.schema import gemini
from tests.fakes.anthropic_messages import FakeAnthropic
from tests.fakes.chat import Reply, rate_limited
from tests.fakes.gemini_chat import FakeGemini, schema_problem
from tests.fakes.openai_chat import FakeOpenAIChat, strict_problem

pytestmark = pytest.mark.slow

ANSWER = {"title": "Fox Mask Dawn", "shots": [{"id": "mask", "camera": "static"}]}


class Shot(pydantic.BaseModel):
    id: str
    camera: str | None


class Board(pydantic.BaseModel):
    title: str
    shots: list[Shot]


def test_shotlists_draft_schema_passes_the_strict_and_gemini_checks_the_fakes_apply() -> None:
    assert strict_problem(draft_schema()) is None
    assert schema_problem(gemini(draft_schema()), "generation_config.response_schema") is None
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert "additionalProperties" in str(strict_problem(loose))
    assert "Unknown name" in str(schema_problem({"type": "OBJECT", "additionalProperties": False}, "s"))


# -- OpenAI --------------------------------------------------------------------------------------------

openai_key = "sk-fake-openai-0123456789"


def openai_client(fake: FakeOpenAIChat, retries: int = 0) -> Any:
    openai = pytest.importorskip("openai")
    return openai.OpenAI(api_key=openai_key, base_url=f"{fake.url}/v1", max_retries=retries)


def test_the_openai_sdk_parses_a_strict_structured_answer_and_a_refusal() -> None:
    with FakeOpenAIChat([Reply(ANSWER), Reply(refusal="I can't help with that.")], openai_key) as fake:
        client = openai_client(fake)
        messages = [{"role": "user", "content": "Draft a storyboard."}]
        done = client.chat.completions.parse(model="fake-llm", messages=messages, response_format=Board)
        assert done.choices[0].message.parsed == Board.model_validate(ANSWER)
        assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
        sent = fake.chats[0]["response_format"]
        assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True  # the SDK's own schema
        refused = client.chat.completions.parse(model="fake-llm", messages=messages, response_format=Board)
        assert refused.choices[0].message.refusal == "I can't help with that."
        assert refused.choices[0].message.parsed is None
        assert [m.id for m in client.models.list()] == ["fake-llm"]


def test_the_openai_sdk_is_refused_a_loose_schema_and_json_mode_without_the_word_json() -> None:
    openai = pytest.importorskip("openai")
    with FakeOpenAIChat([Reply(ANSWER)], openai_key) as fake:
        client = openai_client(fake)
        loose = {
            "name": "board",
            "strict": True,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        }
        with pytest.raises(openai.BadRequestError, match="additionalProperties"):
            client.chat.completions.create(
                model="fake-llm",
                messages=[{"role": "user", "content": "x"}],
                response_format={"type": "json_schema", "json_schema": loose},
            )
        with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
            client.chat.completions.create(
                model="fake-llm",
                messages=[{"role": "user", "content": "x"}],
                response_format={"type": "json_object"},
            )


def test_the_openai_sdk_waits_out_a_429_with_retry_after() -> None:
    openai = pytest.importorskip("openai")
    with FakeOpenAIChat([rate_limited("1"), rate_limited("1"), Reply(ANSWER)], openai_key) as fake:
        with pytest.raises(openai.RateLimitError):
            openai_client(fake).chat.completions.create(
                model="fake-llm", messages=[{"role": "user", "content": "x"}]
            )
        start = time.monotonic()
        done = openai_client(fake, retries=1).chat.completions.create(
            model="fake-llm",
            messages=[{"role": "user", "content": "x json"}],
            response_format={"type": "json_object"},
        )
        assert time.monotonic() - start >= 0.9  # it honoured Retry-After: 1
        assert done.choices[0].message.content is not None and len(fake.chats) == 3


# -- Anthropic -----------------------------------------------------------------------------------------


def anthropic_client(fake: FakeAnthropic, retries: int = 0) -> Any:
    anthropic = pytest.importorskip("anthropic")
    return anthropic.Anthropic(api_key=fake.key, base_url=fake.url, max_retries=retries)


TOOL = {"name": "write_storyboard", "description": "Write it.", "input_schema": Board.model_json_schema()}


def test_the_anthropic_sdk_reads_a_forced_tool_call_and_answers_it_with_a_tool_result() -> None:
    anthropic = pytest.importorskip("anthropic")
    with FakeAnthropic([Reply(ANSWER)]) as fake:
        client = anthropic_client(fake)
        ask = [{"role": "user", "content": "Draft a storyboard."}]
        message = client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=1000,
            messages=ask,
            tools=[TOOL],
            tool_choice={"type": "tool", "name": "write_storyboard"},
        )
        [call] = message.content
        assert call.type == "tool_use" and call.name == "write_storyboard" and call.input == ANSWER
        assert message.stop_reason == "tool_use" and message.usage.input_tokens > 0
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": call.id,
            "is_error": True,
            "content": "shots[0]: fix it",
        }
        follow: list[dict[str, Any]] = [
            *ask,
            {"role": "assistant", "content": [call.model_dump()]},
            {"role": "user", "content": [result]},
        ]
        client.messages.create(model="claude-sonnet-4-6", max_tokens=1000, messages=follow, tools=[TOOL])
        result["tool_use_id"] = "toolu_unknown"
        with pytest.raises(anthropic.BadRequestError, match="corresponding `tool_use` block"):
            client.messages.create(model="claude-sonnet-4-6", max_tokens=1000, messages=follow, tools=[TOOL])


def test_the_anthropic_sdk_reads_a_refusal_and_a_rate_limit() -> None:
    anthropic = pytest.importorskip("anthropic")
    with FakeAnthropic([Reply(refusal="I won't write that."), rate_limited("1"), Reply(ANSWER)]) as fake:
        ask = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]}
        refused = anthropic_client(fake).messages.create(**ask)
        assert refused.stop_reason == "refusal" and refused.content[0].text == "I won't write that."
        with pytest.raises(anthropic.RateLimitError):
            anthropic_client(fake).messages.create(**ask)
        assert anthropic_client(fake).messages.create(**ask, tools=[TOOL]).stop_reason == "tool_use"


# -- Gemini --------------------------------------------------------------------------------------------


def gemini_client(fake: FakeGemini) -> Any:
    genai = pytest.importorskip("google.genai")
    types = pytest.importorskip("google.genai.types")
    return genai.Client(api_key=fake.key, http_options=types.HttpOptions(base_url=fake.url))


def test_the_genai_sdk_sends_a_response_schema_the_fake_takes_and_parses_the_answer() -> None:
    types = pytest.importorskip("google.genai.types")
    with FakeGemini([Reply(ANSWER)]) as fake:
        config = types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Board, system_instruction="Be brief."
        )
        client = gemini_client(fake)  # kept: a collected client closes its connection pool
        done = client.models.generate_content(model="gemini-2.5-flash", contents="Draft.", config=config)
        assert done.parsed == Board.model_validate(ANSWER)
        assert done.usage_metadata.candidates_token_count > 0
        sent = fake.chats[0]["generationConfig"]["responseSchema"]
        assert sent["type"] == "OBJECT" and "additionalProperties" not in sent  # the form shotlist sends too
        # the SDK's own Schema type reads shotlist's Gemini form of the draft schema, field for field
        ours = types.Schema.model_validate(gemini(draft_schema()))
        assert ours.properties["shots"].items.properties["camera"].nullable is True
        config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=ours)
        client.models.generate_content(model="gemini-2.5-flash", contents="Draft.", config=config)


def test_the_genai_sdk_reads_a_blocked_prompt_and_a_429() -> None:
    errors = pytest.importorskip("google.genai.errors")
    with FakeGemini([Reply(refusal="blocked"), rate_limited("1")]) as fake:
        client = gemini_client(fake)
        blocked = client.models.generate_content(model="gemini-2.5-flash", contents="x")
        assert blocked.prompt_feedback.block_reason.value == "SAFETY" and not blocked.candidates
        with pytest.raises(errors.ClientError) as caught:
            client.models.generate_content(model="gemini-2.5-flash", contents="x")
        assert caught.value.code == 429
