"""Commands about prompts: `shotlist prompts` shows what each shot will send, `shotlist lint` checks it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shotlist.cli.options import JsonOpt, ProjectArg

if TYPE_CHECKING:
    from shotlist.prompt import RenderedPrompt
    from shotlist.resolve import ResolvedShot

DialectOpt = Annotated[
    str | None,
    typer.Option(
        "--dialect",
        help="Render in this dialect (generic, seedance, veo, kling, "
        "runway, luma, minimax, wan) instead of each shot's model's.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(prompts)
    app.command()(lint)


def prompts(
    project: ProjectArg = Path("."),
    shot: Annotated[str | None, typer.Option("--shot", help="Only this shot id.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Render as for this model id (e.g. kling-v2-1).")
    ] = None,
    dialect: DialectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print each shot's prompt, negative prompt and word count, as each model family will get it."""
    import json

    from shotlist.load import load_project
    from shotlist.prompt import dialect_for_model, render_prompt

    if model and dialect:
        raise typer.BadParameter("give --model or --dialect, not both")
    p = load_project(project)
    chosen = dialect or (dialect_for_model(model) if model else None)
    shots = p.shots
    if shot is not None:
        shots = [s for s in shots if s.id == shot]
        if not shots:
            from shotlist.errors import did_you_mean

            raise typer.BadParameter(
                f"no shot '{shot}'{did_you_mean(shot, [s.id for s in p.shots])}", param_hint="--shot"
            )
    rows = [(s, render_prompt(p, s, chosen)) for s in shots]
    if as_json:
        typer.echo(json.dumps([_as_json(s, r, model) for s, r in rows], indent=2, ensure_ascii=False))
        return
    typer.echo("\n\n".join(_as_text(s, r) for s, r in rows))


def _as_json(shot: ResolvedShot, r: RenderedPrompt | None, model: str | None) -> dict[str, Any]:
    return {
        "shot": shot.id,
        "mode": shot.mode,
        "model": model or shot.model,
        "dialect": r.dialect if r else None,
        "template": r.template if r else None,
        "prompt": r.text if r else None,
        "negative": r.negative if r else None,
        "words": r.words if r else 0,
        "chars": r.chars if r else 0,
    }


def _as_text(shot: ResolvedShot, r: RenderedPrompt | None) -> str:
    if r is None:
        return f"# {shot.id}  (card: no prompt)"
    lines = [
        f"# {shot.id}  {shot.mode}, {r.dialect}, {r.words} words, {r.chars} chars  [{r.template}]",
        r.text,
    ]
    if r.negative:
        lines.append(f"negative: {r.negative}")
    return "\n".join(lines)


def lint(
    project: ProjectArg = Path("."),
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    dialect: DialectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every shot's prompt against the prompt rules; exit 1 on errors (or warnings with --strict).

    Rules: word-count, char-limit, camera-moves, motion-unqualified, nothing-still, dialogue-long,
    dialogue-delivery, clip-long, img2vid-redescribes, vague-verb, negative-phrasing, non-english,
    no-constraints, no-framing, no-lighting, unknown-rule. Silence one on a shot with `lint: [rule-id]`,
    or on every shot with `defaults: {lint: [rule-id]}`.
    """
    import json

    from shotlist.lint import lint_project
    from shotlist.load import load_project

    report = lint_project(load_project(project), dialect)
    typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False) if as_json else report.format())
    if report.failed(strict):
        raise typer.Exit(1)
