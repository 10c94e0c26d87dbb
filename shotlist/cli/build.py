"""`shotlist build`: generate what changed, pin it, render the cut; with a live display of each shot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, money, parse_money
from shotlist.cli.plan import plan_text

if TYPE_CHECKING:
    from shotlist.generate import ShotEvent
    from shotlist.pipeline import BuildOptions, BuildResult
    from shotlist.plan import Plan


def register(app: typer.Typer) -> None:
    app.command()(build)


def build(
    project: ProjectArg = Path("."),
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Generate only these shots (repeatable).")
    ] = None,
    regenerate: Annotated[
        list[str] | None,
        typer.Option(
            "--regenerate",
            help="Make a new take of these shots "
            "(repeatable); also resends a submit whose outcome is unknown.",
        ),
    ] = None,
    takes: Annotated[
        int | None, typer.Option("--takes", min=1, max=20, help="Takes per generated shot.")
    ] = None,
    budget: Annotated[
        str | None, typer.Option("--budget", metavar="MONEY", help="Most dollars this build may spend.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Spend without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and stop.")] = False,
    model: ModelOpt = None,
    preview: Annotated[
        bool, typer.Option("--preview", help="Render the cut fast (half size, faster encode).")
    ] = False,
    regenerate_missing: Annotated[
        bool,
        typer.Option(
            "--regenerate-missing",
            help="Pay to regenerate pinned clips that are in no store (the new clips will differ).",
        ),
    ] = False,
) -> None:
    """Generate the shots whose inputs changed, pin them in shotlist.lock, and render the cut."""
    from shotlist.pipeline import BuildOptions

    limit = parse_money(budget)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    display = Display(live=sys.stderr.isatty())

    def confirm(the_plan: Plan) -> bool:
        typer.echo(plan_text(the_plan))
        return typer.confirm(
            f"Spend {money(the_plan.cost)} on {len(the_plan.generating)} shots?", default=False
        )

    options = BuildOptions(
        only=only or (),
        regenerate=regenerate or (),
        takes=takes,
        budget=limit,
        yes=yes,
        dry_run=dry_run,
        model=model,
        preview=preview,
        regenerate_missing=regenerate_missing,
        progress=display,
        confirm=confirm if interactive else None,
        on_wait=display.say,
    )
    result = _run(project, options, display)
    if dry_run:
        typer.echo(plan_text(result.plan))
        return
    typer.echo(result_text(result))
    if result.failures or result.cut is None:
        raise typer.Exit(1)  # the cut was asked for and not written: the last line says why


def _run(project: Path, options: BuildOptions, display: Display) -> BuildResult:
    """The build, with its display; an error is said with the reason the cut was not written last."""
    from shotlist.cli import STATE
    from shotlist.cli.render import no_cut_reason
    from shotlist.errors import ShotlistError
    from shotlist.pipeline import build as run_build

    try:
        with display:
            return run_build(project, options)
    except ShotlistError as exc:
        if STATE["debug"] or options.dry_run:
            raise
        display.stop()
        typer.echo(str(exc), err=True)
        typer.echo(f"no cut written: {no_cut_reason(exc)}", err=True)
        raise typer.Exit(exc.exit_code) from None
    finally:
        display.stop()


def result_text(result: BuildResult) -> str:
    made = sum(len(t) for t in result.made.values())
    lines = []
    for shot, why in result.failures.items():
        lines.append(f"failed  {shot}: {why}")
    spent = f"spent {money(result.spent)}" if result.spent else "nothing spent"
    lines.append(
        f"{made} take{'s' if made != 1 else ''} generated, {spent}; "
        f"{len(result.plan.shots) - len(result.missing)}/{len(result.plan.shots)} shots pinned"
    )
    if result.failures:
        lines.append(
            f"{len(result.failures)} shot{'s' if len(result.failures) > 1 else ''} failed; "
            "every success is stored and pinned — run the build again to retry the failures"
        )
    if result.report is not None:
        lines.append(f"report: {result.report}")
    if result.cut is not None:
        lines.append(f"cut: {result.cut.path}")
    else:
        if result.plan.missing:
            lines.append(
                "a pinned clip that is in no store is not regenerated unasked: `shotlist pull` if a teammate "
                "has it, else `shotlist build --regenerate-missing` pays for new ones"
            )
        lines.append(f"no cut written: no clip for {', '.join(result.missing) or 'some shots'}")
    return "\n".join(lines)


class Display:
    """Per-shot progress: a rich display on a terminal, plain lines (state changes only) otherwise."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress: object | None = None
        self.tasks: dict[str, Any] = {}  # rich TaskIDs
        self.last: dict[str, str] = {}

    def __enter__(self) -> Display:
        return self

    def start(self) -> None:
        """Begin the live display at the first event, so a confirmation question is asked on a quiet screen."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("{task.fields[shot]:<20}"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            transient=False,
        )
        progress.start()
        self.progress = progress

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        from rich.progress import Progress

        if isinstance(self.progress, Progress):
            self.progress.stop()
            self.progress = None

    def say(self, message: str) -> None:
        typer.echo(message, err=True)

    def __call__(self, event: ShotEvent) -> None:
        from rich.progress import Progress

        text = (
            event.state
            if event.fraction is None or event.state != "generating"
            else f"generating {event.fraction * 100:.0f} %"
        )
        if event.message and event.state in ("done", "failed", "cached", "submitted", "queued"):
            text += f" ({event.message})"
        if self.live and self.progress is None:
            self.start()
        if isinstance(self.progress, Progress):
            if event.shot not in self.tasks:
                self.tasks[event.shot] = self.progress.add_task(text, total=1.0, shot=event.shot)
            completed = 1.0 if event.state in ("done", "cached") else event.fraction or 0.0
            self.progress.update(self.tasks[event.shot], description=text, completed=completed)
            return
        if event.state == "generating":
            step = f"generating {int((event.fraction or 0) * 4) * 25} %"  # plain output: quarters, not every poll
            if self.last.get(event.shot) == step:
                return
            self.last[event.shot] = step
            text = step
        typer.echo(f"{event.shot}: {text}")
