"""`shotlist plan`: what a build would do for each shot, why, and what it would cost."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, duration_text, money

if TYPE_CHECKING:
    from shotlist.plan import Plan


def register(app: typer.Typer) -> None:
    app.command()(plan)


def plan(
    project: ProjectArg = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 2 when something would be generated or needs a decision (missing, refused, lost), 0 when not.",
        ),
    ] = False,
    model: ModelOpt = None,
) -> None:
    """Say what a build would do for each shot (pinned, cached, generate), why, and what it would cost."""
    import json

    from shotlist.catalog.registry import CatalogModels
    from shotlist.errors import ShotlistError
    from shotlist.journal import Journal
    from shotlist.load import load_project
    from shotlist.lock import read_lock
    from shotlist.plan import make_plan
    from shotlist.store import Store

    try:
        p = load_project(project)
        store = Store(p.root)
        the_plan = make_plan(
            p, store, read_lock(p.root), CatalogModels(), journal=Journal(store.dir), model=model
        )
    except ShotlistError as exc:
        if not detailed_exitcode:
            raise
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None  # 2 means "changes pending" here, even for a storyboard error
    if as_json:
        typer.echo(json.dumps(the_plan.to_json(), indent=2))
    else:
        typer.echo(plan_text(the_plan))
    if detailed_exitcode and (the_plan.generating or the_plan.missing or the_plan.held):
        raise typer.Exit(2)


def plan_text(the_plan: Plan) -> str:
    """The plan as lines: action, shot, cost, reasons; then the totals."""
    width = max(len(s.shot) for s in the_plan.shots)
    lines = [f"plan for {the_plan.project.path} ({len(the_plan.shots)} shots)"]
    for s in the_plan.shots:
        cost = money(s.cost) if s.action in ("generate", "missing") else ""
        takes = f" ×{len(s.takes)}" if s.action == "generate" and len(s.takes) > 1 else ""
        why = s.summary()
        if s.action == "pinned" and s.take:
            why = f"take {s.take.take}"
        lines.append(f"  {s.action:<9} {s.shot:<{width}}  {s.model:<14} {cost + takes:<10} {why}".rstrip())
    gen = the_plan.generating
    counts = {
        a: sum(1 for s in the_plan.shots if s.action == a)
        for a in ("generate", "missing", "refused", "lost", "unknown", "cached", "pinned", "skip")
    }
    summary = ", ".join(f"{n} {a if a != 'generate' else 'to generate'}" for a, n in counts.items() if n)
    if gen:
        cost = money(the_plan.cost)
        summary += f": {cost if cost == 'free' else 'about ' + cost}, {duration_text(the_plan.seconds)}"
    else:
        summary += ": nothing to generate"
    lines.append("")
    lines.append(summary)
    if the_plan.held:
        lines.append(
            "a refused, lost or unanswered shot is not paid for again unasked: its line says what to do"
        )
    return "\n".join(lines)
