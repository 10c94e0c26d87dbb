"""`shotlist plan`: what a build would do for each shot, why, and what it would cost."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, duration_text, money

if TYPE_CHECKING:
    from shotlist.plan import Plan
    from shotlist.store import Store


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
            p, store, read_lock(p.root, store=store), CatalogModels(), journal=Journal(store.dir), model=model
        )
        ask_remote_about_missing(the_plan, store)
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


def ask_remote_about_missing(the_plan: Plan, store: Store) -> None:
    """For shots whose pinned clip is not here, ask the remote store (one listing) whether it has it."""
    from shotlist.pipeline import explain_missing
    from shotlist.remote import Remote, RemoteError, remote_url

    url = remote_url(the_plan.project.board.remote, the_plan.project.root)
    if not the_plan.missing or url is None:
        return
    try:
        remote = Remote(url)
        explain_missing(the_plan, remote.url, set(remote.inventory()))
    except RemoteError as exc:
        for sp in the_plan.missing:
            sp.reasons.insert(1, f"the remote store could not be asked: {exc}")


def plan_text(the_plan: Plan) -> str:
    """The plan as lines: action, shot, cost, reasons (and the pinned take's QC findings); then the totals."""
    from shotlist.qc import summary as qc_summary
    from shotlist.store import Store
    from shotlist.takes import findings_of

    store = Store(the_plan.project.root)
    width = max(len(s.shot) for s in the_plan.shots)
    lines = [f"plan for {the_plan.project.path} ({len(the_plan.shots)} shots)"]
    for s in the_plan.shots:
        cost = money(s.cost) if s.action in ("generate", "missing") else ""
        takes = f" ×{len(s.takes)}" if s.action == "generate" and len(s.takes) > 1 else ""
        why = s.summary()
        if s.action == "pinned" and s.take:
            why = f"take {s.take.take}"
        lines.append(f"  {s.action:<9} {s.shot:<{width}}  {s.model:<14} {cost + takes:<10} {why}".rstrip())
        if s.take is not None and s.key is not None and s.action in ("pinned", "cached"):
            found = findings_of(store, s.key, s.take, the_plan.project.board.qc, measure=False)
            if found:  # from the QC made when the take was stored: planning decodes nothing
                lines.append(
                    f"  {'':<9} {'':<{width}}  qc: take {s.take.take} of {s.shot}: {qc_summary(found)}"
                )
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
