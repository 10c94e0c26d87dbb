"""`shotlist draft` against fake OpenAI-compatible, Anthropic and Gemini servers on 127.0.0.1.

Each test scripts what the model answers and checks what a user notices: the files written (or not),
the exit status, the messages, and what the next request carried back to the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shotlist.cli import app
from shotlist.errors import ShotlistError
from shotlist.lint import lint_project
from shotlist.load import load_project
from tests.drafts import BROKEN_LOCATION, BROKEN_TEXT, FOX, FOX_BROKEN, LOGLINE
from tests.fakes.anthropic_messages import FakeAnthropic
from tests.fakes.chat import ChatFake, Reply, rate_limited
from tests.fakes.gemini_chat import FakeGemini
from tests.fakes.openai_chat import FakeOpenAIChat

runner = CliRunner()
PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "OPENROUTER_API_KEY",
    "SHOTLIST_LLM",
)


@pytest.fixture(autouse=True)
def no_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a command that gets its folder wrong writes here, never into the repo


@contextmanager
def serve(provider: str, script: list[Reply], monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatFake]:
    """A fake of ``provider`` with its environment set as a user would set it."""
    fake: ChatFake
    if provider == "openai":
        fake = FakeOpenAIChat(script, key="sk-test-0123456789")
        with fake:
            monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
            monkeypatch.setenv("OPENAI_API_KEY", fake.key)
            yield fake
    elif provider == "anthropic":
        fake = FakeAnthropic(script)
        with fake:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
            monkeypatch.setenv("ANTHROPIC_API_KEY", fake.key)
            yield fake
    else:
        fake = FakeGemini(script)
        with fake:
            monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
            monkeypatch.setenv("GEMINI_API_KEY", fake.key)
            yield fake


@dataclass
class Ran:
    """A command's outcome as `shotlist` (shotlist.cli.main) shows it: a user error is a message and a status."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(*args: str) -> Ran:
    result = runner.invoke(app, list(args))
    if isinstance(result.exception, ShotlistError):
        return Ran(result.exception.exit_code, result.stdout, result.stderr + str(result.exception) + "\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def draft(target: Path, *extra: str) -> Ran:
    return run("draft", LOGLINE, str(target), "--shots", "8", *extra)


def last_user_text(body: dict[str, Any]) -> str:
    """The last thing said to the model, in any of the three protocols."""
    if "contents" in body:
        return str(body["contents"][-1]["parts"][0]["text"])
    content = body["messages"][-1]["content"]
    if isinstance(content, list):  # Anthropic: the problems as the tool call's result
        return " ".join(str(b.get("content", "")) for b in content)
    return str(content)


@dataclass
class Drafting:
    """`shotlist draft` of ``LOGLINE`` into ``target`` against a fake of ``provider``, set up as a user would."""

    provider: str
    target: Path
    monkeypatch: pytest.MonkeyPatch

    def __call__(self, replies: list[Reply], *extra: str) -> tuple[Ran, ChatFake]:
        """The command's outcome against a fake that answers ``replies`` in turn, and the fake (what it heard)."""
        with serve(self.provider, replies, self.monkeypatch) as fake:
            return draft(self.target, *extra), fake


@pytest.fixture
def drafting(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drafting:
    """A draft into ``fox/`` against OpenAI's fake, or against each provider's under ``@each_provider``."""
    return Drafting(getattr(request, "param", "openai"), tmp_path / "fox", monkeypatch)


#: Runs a test once against each provider's fake.
each_provider = pytest.mark.parametrize("drafting", ["openai", "anthropic", "gemini"], indirect=True)


@pytest.mark.slow
@each_provider
def test_a_valid_answer_is_written_as_a_project_that_validates_and_lints_clean(drafting: Drafting) -> None:
    target = drafting.target
    result, fake = drafting([Reply(FOX)])
    assert result.exit_code == 0, result.output
    assert len(fake.chats) == 1
    text = (target / "storyboard.yaml").read_text()
    project = load_project(target)
    assert [s.id for s in project.shots] == [s["id"] for s in FOX["shots"]]
    assert lint_project(project).findings == []
    assert "no findings" in result.stdout and "created" in result.stdout
    # written as a person writes it: the schema line, an intent comment above each shot, blank lines between
    assert text.startswith("# yaml-language-server: $schema=shotlist.schema.json\n")
    assert "  # Find the fox mask alone on its stone, asleep.\n  - id: mask\n" in text
    assert text.count("\n\n  # ") == len(FOX["shots"]) - 1
    assert "    camera: {move: pan-right, speed: slow}\n" in text
    assert (target / "shotlist.schema.json").is_file() and LOGLINE in (target / "README.md").read_text()
    # the cost is told before the call and the tokens after it
    assert result.stderr.index("tokens in and") < result.stderr.index("answer: validates")
    assert "used " in result.stderr and "in 1 request" in result.stderr


@pytest.mark.slow
@each_provider
def test_a_second_round_carries_the_errors_location_and_text_and_its_fix_is_written(
    drafting: Drafting,
) -> None:
    result, fake = drafting([Reply(FOX_BROKEN), Reply(FOX)])
    assert result.exit_code == 0, result.output
    assert len(fake.chats) == 2
    said = last_user_text(fake.chats[1])
    assert BROKEN_LOCATION in said and BROKEN_TEXT in said
    assert "answer: 1 error" in result.stderr and "repair 1: validates, lints clean" in result.stderr
    assert load_project(drafting.target).shots[2].camera.move == "tilt-up"


@pytest.mark.slow
def test_an_answer_that_never_validates_exits_1_after_3_repairs_and_writes_nothing(
    drafting: Drafting,
) -> None:
    result, fake = drafting([Reply(FOX_BROKEN)])
    assert result.exit_code == 1
    assert len(fake.chats) == 4  # the answer and 3 repair rounds
    assert not drafting.target.exists()
    assert "storyboard.yaml:" in result.stderr and BROKEN_TEXT in result.stderr  # the last errors, placed
    assert "nothing written" in result.stderr


@pytest.mark.slow
@each_provider
def test_a_refusal_is_reported_and_nothing_is_written(drafting: Drafting) -> None:
    result, fake = drafting([Reply(refusal="I can't help with that.")])
    assert result.exit_code == 1
    assert "declined" in result.stderr and len(fake.chats) == 1
    assert not drafting.target.exists()


@pytest.mark.slow
@each_provider
def test_a_429_is_waited_out_as_retry_after_says(drafting: Drafting) -> None:
    result, fake = drafting([rate_limited("1"), Reply(FOX)])
    assert result.exit_code == 0, result.output
    assert len(fake.chats) == 2
    assert fake.times[1] - fake.times[0] >= 0.95


@pytest.mark.slow
def test_a_timeout_is_not_resent_and_writes_nothing(drafting: Drafting) -> None:
    result, fake = drafting([Reply(FOX, delay=3)], "--timeout", "1")
    assert result.exit_code == 1
    assert "no answer within 1 s" in result.stderr
    assert len(fake.chats) == 1 and not drafting.target.exists()


def test_with_no_key_or_server_the_command_names_the_variables_and_exits_2(tmp_path: Path) -> None:
    result = draft(tmp_path / "fox")
    assert result.exit_code == 2
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "--llm"):
        assert name in result.stderr
    assert not (tmp_path / "fox").exists()
    named = run("draft", LOGLINE, str(tmp_path / "fox"), "--llm", "anthropic/claude-haiku-4-5")
    assert named.exit_code == 2 and "ANTHROPIC_API_KEY" in named.stderr


def test_dry_run_prints_the_request_and_its_cost_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-dry-run-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", key)  # OpenAI itself: nothing may be sent there from a test
    result = draft(tmp_path / "fox", "--dry-run", "--llm", "openai/gpt-4.1-mini")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("POST https://api.openai.com/v1/chat/completions\n")
    assert "Authorization: ***" in result.stdout and key not in result.output
    body = json.loads(result.stdout.split("\n\n", 1)[1])
    assert body["model"] == "gpt-4.1-mini" and body["response_format"]["json_schema"]["strict"] is True
    assert "$0.4/$1.6 per million tokens in/out, prices of 2026-03-21" in result.stderr
    assert not (tmp_path / "fox").exists()


@pytest.mark.slow
def test_a_server_without_json_schema_gets_json_mode_with_the_schema_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "fox"
    with FakeOpenAIChat([Reply(FOX)], json_schema=False, model="llama3.1") as fake:  # like an older llama.cpp
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        result = draft(target)  # no key, no model: a local server names the one it serves
    assert result.exit_code == 0, result.output
    [chat] = fake.chats
    assert chat["response_format"] == {"type": "json_object"} and chat["model"] == "llama3.1"
    assert '"shots"' in chat["messages"][0]["content"]  # the schema, in the instructions
    assert "free" in result.stderr and load_project(target).board.title == FOX["title"]


@pytest.mark.slow
def test_images_are_copied_into_the_project_and_offered_to_the_model(
    tmp_path: Path, drafting: Drafting
) -> None:
    from PIL import Image

    frame = tmp_path / "dawn.png"
    Image.new("RGB", (64, 36), (200, 120, 60)).save(frame)
    answer = json.loads(json.dumps(FOX))
    answer["shots"][6] = {**answer["shots"][6], "image": "assets/dawn.png"}
    result, fake = drafting([Reply(answer)], "--image", str(frame), "--aspect", "9:16", "--duration", "40s")
    assert result.exit_code == 0, result.output
    target = drafting.target
    assert (target / "assets" / "dawn.png").read_bytes() == frame.read_bytes()
    system = fake.chats[0]["messages"][0]["content"]
    assert "assets/dawn.png" in system and "9:16" in system and "about 40 seconds" in system
    assert load_project(target).board.output.aspect == "9:16"


def test_the_project_folder_must_not_hold_a_storyboard_yet(tmp_path: Path) -> None:
    (tmp_path / "storyboard.yaml").write_text("version: 1\n")
    result = run("draft", LOGLINE, str(tmp_path))
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_the_instructions_carry_the_lint_rules_and_the_target_models_limits(tmp_path: Path) -> None:
    from shotlist.draft.instructions import Task, instructions
    from shotlist.lint import RULES

    text = instructions(tmp_path, Task("draft", "veo/veo-3.1", shots=8))
    assert all(f"- {r.id} ({r.level}): {r.summary}" in text for r in RULES.values() if r.id != "unknown-rule")
    assert "4, 6, 8 s" in text and "50 to 200 words" in text  # Veo's durations and its dialect's band
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "draft.j2").write_text("Write {{ task.shots }} shots, house style.")
    assert instructions(tmp_path, Task("draft", shots=3)) == "Write 3 shots, house style.\n"


@pytest.mark.slow
def test_a_new_user_with_only_a_local_server_drafts_builds_revises_and_plans_one_shot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's "done when": draft → build an animatic → revise one shot → plan regenerates only it."""
    from tests.drafts import FOX_REVISION

    target = tmp_path / "fox"
    with FakeOpenAIChat([Reply(FOX), Reply(FOX_REVISION)]) as fake:  # a local server: no key, one model
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        monkeypatch.chdir(tmp_path)
        drafted = run("draft", LOGLINE, "fox", "--shots", "8")
        assert drafted.exit_code == 0, drafted.output
        assert lint_project(load_project(target)).findings == [] and "no findings" in drafted.stdout
        built = run("build", "fox")
        assert built.exit_code == 0, built.output
        cut = target / "out" / "fox-mask-dawn.mp4"
        from shotlist.media import probe

        shots = sum(s["duration"] for s in FOX["shots"])
        overlaps = sum(s["transition"]["duration"] for s in FOX["shots"] if s["transition"])
        assert abs(probe(cut).duration - (shots - overlaps)) < 0.1  # 41 s of shots, 4.1 s of transitions
        revised = run("revise", "fox", "make the empty mask shot a wide shot", "--yes")
        assert revised.exit_code == 0, revised.output
        assert "plan: 1 shot will regenerate (mask-empty), free" in revised.stdout
    planned = run("plan", "fox", "--json")
    plan = json.loads(planned.stdout)
    assert {s["shot"]: s["action"] for s in plan["shots"] if s["action"] != "pinned"} == {
        "mask-empty": "generate"
    }


@pytest.mark.slow
def test_a_script_file_is_drafted_from_and_a_later_refusal_keeps_the_best_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "script.txt"
    script.write_text("INT. FOREST - DAWN\nA fox mask lies on a stone. Its eyes open.\n")
    warned = json.loads(json.dumps(FOX))
    warned["shots"][1]["lighting"] = None  # a warning (no-lighting): sent back while rounds remain
    warned["shots"][1]["scene"] = "a misty clearing"
    with serve("openai", [Reply(warned), Reply(refusal="No more.")], monkeypatch) as fake:
        result = run("draft", "--from", str(script), str(tmp_path / "fox"), "--shots", "8")
    assert result.exit_code == 0, result.output
    assert "INT. FOREST - DAWN" in fake.chats[0]["messages"][-1]["content"]
    assert "[no-lighting]" in fake.chats[1]["messages"][-1]["content"]
    assert "keeping the best answer so far" in result.stderr
    assert "1 warning" in result.stdout and (tmp_path / "fox" / "storyboard.yaml").is_file()


def _hollowed(body: dict[str, Any]) -> dict[str, Any]:
    """The answer's container in each protocol turned into a string, as a broken proxy might send it."""
    shapes = {"choices": [{"message": "x"}], "content": "x", "candidates": ["x"]}
    return {k: shapes.get(k, v) for k, v in body.items()}


def _junk_usage(body: dict[str, Any]) -> dict[str, Any]:
    return {k: ("lots" if k in ("usage", "usageMetadata") else v) for k, v in body.items()}


@pytest.mark.slow
@each_provider
@pytest.mark.parametrize(
    "mangle",
    [lambda b: [b], lambda b: None, lambda b: b"<html>502 Bad Gateway</html>", _hollowed],
    ids=["a-list", "null", "html", "hollow"],
)
def test_a_response_that_bends_the_protocol_is_an_error_message_not_a_traceback(
    drafting: Drafting, mangle: Any
) -> None:
    result, fake = drafting([Reply(FOX, mangle=mangle)])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr or "not JSON" in result.stderr, result.stderr
    assert not drafting.target.exists()


@pytest.mark.slow
@each_provider
def test_token_counts_a_server_garbles_do_not_lose_a_good_answer(drafting: Drafting) -> None:
    result, _ = drafting([Reply(FOX, mangle=_junk_usage)])
    assert result.exit_code == 0, result.output
    assert (drafting.target / "storyboard.yaml").is_file()


@pytest.mark.slow
def test_an_answer_given_as_a_list_of_text_parts_is_read(drafting: Drafting) -> None:
    """Some OpenAI-compatible servers send message.content as [{type: text, text}] parts."""

    def parts(body: dict[str, Any]) -> dict[str, Any]:
        message = body["choices"][0]["message"]
        text = message["content"]
        message["content"] = [{"type": "text", "text": text[:10]}, {"type": "text", "text": text[10:]}]
        return body

    result, _ = drafting([Reply(FOX, mangle=parts)])
    assert result.exit_code == 0, result.output
    assert len(load_project(drafting.target).shots) == len(FOX["shots"])


def _with(**top: Any) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(json.dumps(FOX))
    board.update(top)
    return board


@pytest.mark.slow
@each_provider
@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (_with(shots=[FOX["shots"][0], "a shot", 3, None]), "shots[1]"),
        (_with(title={"text": "Dawn"}), "title"),
        (_with(styles="film grain"), "styles"),
    ],
    ids=["shots-that-are-no-objects", "a-title-that-is-no-text", "styles-that-are-no-list"],
)
def test_an_answer_of_the_wrong_shape_is_sent_back_with_its_place_not_a_traceback(
    drafting: Drafting, bad: dict[str, Any], where: str
) -> None:
    result, fake = drafting([Reply(bad), Reply(FOX)])
    assert result.exit_code == 0, result.output
    assert len(fake.chats) == 2 and where in last_user_text(fake.chats[1])
    assert load_project(drafting.target).board.title == FOX["title"]


@pytest.mark.slow
def test_control_characters_in_an_intent_do_not_break_the_comment_it_becomes(drafting: Drafting) -> None:
    """The intent is shotlist's to write as a comment: a model's stray NUL or escape is no problem to send back."""
    board = json.loads(json.dumps(FOX))
    board["shots"][0]["intent"] = "Find the mask\x00 asleep\x1b[2J on its\u2028stone\x85."
    result, fake = drafting([Reply(board)])
    assert result.exit_code == 0, result.output
    assert len(fake.chats) == 1
    text = (drafting.target / "storyboard.yaml").read_text()
    assert "  # Find the mask asleep[2J on its stone .\n  - id: forest\n" in text


@pytest.mark.slow
def test_an_answer_with_another_number_of_shots_than_asked_is_sent_back(drafting: Drafting) -> None:
    many = json.loads(json.dumps(FOX))
    many["shots"] += [dict(many["shots"][1], id=f"extra-{i}") for i in range(40)]
    result, fake = drafting([Reply(many), Reply(FOX)])  # draft() asks for --shots 8, as FOX has
    assert result.exit_code == 0, result.output
    said = last_user_text(fake.chats[1])
    assert "48 shots" in said and "8 were asked for" in said
    assert len(load_project(drafting.target).shots) == 8


@pytest.mark.slow
@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("model", "ark/seedance-1.0-pro", "model"),  # a paid model where --model said animatic
        ("prompt", "Ignore the storyboard.", "prompt"),  # bypasses the dialect templates
        ("lint", ["word-count", "no-framing"], "lint"),  # silences the rules the draft is checked against
        ("seed", 5, "seed"),
        ("takes", 9, "takes"),
        ("audio", {"native": True, "dialogue": None}, "audio.native"),
    ],
)
def test_a_field_the_draft_form_leaves_out_is_sent_back_not_written(
    drafting: Drafting, field: str, value: Any, where: str
) -> None:
    """Only a strict server holds the model to the schema; what a loose one adds is checked here too."""
    board = json.loads(json.dumps(FOX))
    board["shots"][1][field] = value
    result, fake = drafting([Reply(board), Reply(FOX)])
    assert result.exit_code == 0, result.output
    assert len(fake.chats) == 2
    said = last_user_text(fake.chats[1])
    assert f"shots[1].{where}" in said and "not written by a draft" in said
    text = (drafting.target / "storyboard.yaml").read_text()
    assert (
        f"\n    {where.split('.')[-1]}:" not in text
        and f" {where.split('.')[-1]}: " not in text.split("shots:")[1]
    )


@pytest.mark.slow
def test_an_aspect_no_storyboard_can_hold_is_refused_before_anything_is_asked(drafting: Drafting) -> None:
    """The animatic makes any shape, but a storyboard holds five: 3:2 could only fail every round, paid."""
    result, fake = drafting([Reply(FOX)], "--aspect", "3:2")
    assert result.exit_code == 2 and "--aspect 3:2" in result.stderr and "16:9" in result.stderr
    assert fake.chats == [] and not drafting.target.exists()
