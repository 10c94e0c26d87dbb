"""`shotlist draft` writes a new storyboard with a language model; `shotlist revise` changes one in words.

Both go through the front door: the model's answer is loaded, validated and linted like a file and
repaired in rounds; nothing is written unless it validates. Token use and cost are shown before the call
and after it; ``--dry-run`` prints the request instead of sending it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from shotlist.draft.rounds import Outcome
    from shotlist.llm import ChatClient

LlmOpt = Annotated[
    str | None,
    typer.Option(
        "--llm",
        metavar="PROVIDER/MODEL",
        help="The language model: openai/gpt-4.1-mini, anthropic/claude-sonnet-4-6, gemini/gemini-2.5-flash, "
        "ollama/llama3.1, ... (default: SHOTLIST_LLM, else the provider your environment configures).",
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the request and its cost; send nothing.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the model's answer.")]


def register(app: typer.Typer) -> None:
    app.command()(draft)
    app.command()(revise)


def draft(
    logline: Annotated[str | None, typer.Argument(help="The film in a sentence.")] = None,
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")] = Path("."),
    script: Annotated[
        Path | None, typer.Option("--from", help="Draft from a script or treatment in this text file.")
    ] = None,
    shots: Annotated[int, typer.Option("--shots", help="How many shots.")] = 6,
    aspect: Annotated[str, typer.Option("--aspect", help="16:9, 9:16, 1:1, 4:5 or 21:9.")] = "16:9",
    duration: Annotated[
        str | None, typer.Option("--duration", help="How long the film should be: 30s, 1m30s, 90.")
    ] = None,
    model: Annotated[
        str,
        typer.Option("--model", help="The video model the shots are written for (its dialect and limits)."),
    ] = "animatic",
    image: Annotated[
        list[Path] | None, typer.Option("--image", help="An image img2vid shots may start from (repeatable).")
    ] = None,
    llm: LlmOpt = None,
    dry_run: DryRunOpt = False,
    timeout: TimeoutOpt = 300.0,
) -> None:
    """Draft a new project from a logline or a script with a language model; written only if it validates."""
    import asyncio

    from shotlist.draft.create import DraftOptions, check_options, draft_project, staging_dir
    from shotlist.draft.rounds import Outcome

    logline, story, directory = _what_to_draft(logline, script, directory)
    opts = DraftOptions(
        directory, logline, story, shots, aspect, parse_seconds(duration), model, tuple(image or ())
    )
    check_options(opts)
    client = _client(llm, timeout)
    with staging_dir() as staging:
        outcome = asyncio.run(draft_project(opts, client, Path(staging), say, dry_run=dry_run))
        if not isinstance(outcome, Outcome):
            typer.echo(outcome.show())  # --dry-run: the request, not sent
            return
        _report_usage(client, outcome)
        if not outcome.candidate.usable:
            _failed(outcome, directory / "storyboard.yaml")
        from shotlist.draft.create import write_project

        written = write_project(opts, outcome, Path(staging))
    report = outcome.candidate.report
    if report is not None:
        report.path = directory / "storyboard.yaml"
        typer.echo(report.format())
    typer.echo(f"created {directory}: {', '.join(written)}")
    typer.echo(f"next: shotlist plan {directory}   then   shotlist build {directory}")


def _what_to_draft(logline: str | None, script: Path | None, directory: Path) -> tuple[str, str, Path]:
    """The logline, the script's text and the folder the arguments give (``draft --from FILE DIR`` names
    the folder in the one argument)."""
    if not (logline or script):
        raise typer.BadParameter('give a logline (shotlist draft "a fox mask wakes at dawn") or --from FILE')
    if script is not None and logline:
        if directory != Path("."):
            raise typer.BadParameter("give a logline or --from FILE, not both")
        directory = Path(logline)  # `draft --from script.txt DIR`: the one argument is the folder
        logline = None
    story = ""
    if script is not None:
        try:
            story = script.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"--from {script}: cannot read it as UTF-8 text ({exc})") from None
    return logline or "", story, directory


def revise(
    arguments: Annotated[
        list[str],
        typer.Argument(metavar="[PROJECT] INSTRUCTION", help="The project (default: here) and the change."),
    ],
    shot: Annotated[str | None, typer.Option("--shot", help="Change only this shot.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write the change without asking.")] = False,
    llm: LlmOpt = None,
    dry_run: DryRunOpt = False,
    timeout: TimeoutOpt = 300.0,
) -> None:
    """Change a storyboard in plain words; shows the diff and what regenerates, and writes it on --yes."""
    import asyncio
    import sys

    from shotlist.draft.revise import revise_project, unified_diff
    from shotlist.durable import write_text
    from shotlist.load import load_project

    if len(arguments) > 2:
        raise typer.BadParameter("give at most a project and one instruction (quote the instruction)")
    project, instruction = (arguments[0], arguments[1]) if len(arguments) == 2 else (".", arguments[0])
    p = load_project(Path(project))
    if shot is not None and shot not in {s.id for s in p.shots}:
        from shotlist.errors import did_you_mean

        raise typer.BadParameter(f"--shot {shot}: no such shot{did_you_mean(shot, [s.id for s in p.shots])}")
    client = _client(llm, timeout)
    result = asyncio.run(revise_project(p, instruction, shot, client, say, dry_run=dry_run))
    if not isinstance(result, tuple):
        typer.echo(result.show())  # --dry-run: the request, not sent
        return
    outcome, effect = result
    _report_usage(client, outcome)
    if not outcome.candidate.usable:
        _failed(outcome, p.path)
    before = p.path.read_text(encoding="utf-8")
    if outcome.candidate.text == before:
        typer.echo("the model changed nothing; storyboard.yaml is as it was")
        return
    typer.echo(unified_diff(before, outcome.candidate.text, p.path.name), nl=False)
    if outcome.candidate.report is not None:
        typer.echo(outcome.candidate.report.format())  # the lint of the shots the revision changed
    typer.echo(f"plan: {effect}")
    if not yes and not (sys.stdin.isatty() and typer.confirm(f"write {p.path}?", default=False)):
        typer.echo(f"not written: run again with --yes, or apply the diff above (git apply) in {p.root}")
        return
    write_text(p.path, outcome.candidate.text)
    typer.echo(f"wrote {p.path}")


def say(line: str) -> None:
    typer.echo(line, err=True)


def _client(llm: str | None, timeout: float) -> ChatClient:
    from shotlist.llm.providers import chat_for

    return chat_for(llm, timeout)


def _report_usage(client: ChatClient, outcome: Outcome) -> None:
    from shotlist.llm.prices import spent_line

    say(spent_line(client, outcome.usage, outcome.rounds))


def _failed(outcome: Outcome, path: Path) -> None:
    say(outcome.candidate.shown(path) or "the model's answer could not be used")
    say(
        f"nothing written: the storyboard did not validate and lint without errors after {outcome.rounds} requests"
    )
    raise typer.Exit(1)


def parse_seconds(text: str | None) -> float | None:
    """``30s``, ``90``, ``1m30s``, ``1:30`` as seconds."""
    if text is None:
        return None
    t = text.strip().lower()
    m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?", t) if t else None
    if ":" in t:
        minutes, _, seconds = t.partition(":")
        if minutes.isdigit() and seconds.replace(".", "", 1).isdigit():
            return int(minutes) * 60 + float(seconds)
    elif m and (m.group(1) or m.group(2)):
        return float(m.group(1) or 0) * 60 + float(m.group(2) or 0)
    raise typer.BadParameter(f"--duration {text}: give seconds like 30s, 90 or 1m30s")
