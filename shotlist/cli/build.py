"""`shotlist build`: generate what changed, pin it, render the cut; with a live display of each shot."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shotlist.cli.options import ModelOpt, ProjectArg, money, parse_money
from shotlist.cli.plan import plan_text

if TYPE_CHECKING:
    from rich.progress import Progress

    from shotlist.generate import ShotEvent
    from shotlist.pipeline import BuildOptions, BuildResult
    from shotlist.plan import Plan


class PickRule(StrEnum):
    """Which new take a build pins."""

    newest = "newest"  # the take made last
    best = "best"  # the take with the fewest automatic QC findings


RegenerateOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--regenerate",
        help="Make a new take of these shots (repeatable); also resends a submit whose outcome is unknown.",
    ),
]
RegenerateMissingOpt = Annotated[
    bool,
    typer.Option(
        "--regenerate-missing",
        help="Pay to regenerate pinned clips that are in no store (the new clips will differ).",
    ),
]
PickOpt = Annotated[
    PickRule,
    typer.Option("--pick", help="Which new take to pin: newest, or best (the fewest automatic QC findings)."),
]


def register(app: typer.Typer) -> None:
    app.command()(build)


def build(
    project: ProjectArg = Path("."),
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Generate only these shots (repeatable).")
    ] = None,
    regenerate: RegenerateOpt = None,
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
    regenerate_missing: RegenerateMissingOpt = False,
    pick: PickOpt = PickRule.newest,
) -> None:
    """Generate the shots whose inputs changed, pin them in shotlist.lock, and render the cut."""
    from shotlist.pipeline import BuildOptions

    options = BuildOptions(
        only=only or (),
        regenerate=regenerate or (),
        takes=takes,
        budget=parse_money(budget),
        yes=yes,
        dry_run=dry_run,
        model=model,
        preview=preview,
        regenerate_missing=regenerate_missing,
        pick="best" if pick is PickRule.best else "newest",
    )
    result = run_with_display(project, options)
    if dry_run:
        typer.echo(plan_text(result.plan))
        return
    typer.echo(result_text(result))
    if result.failures or result.plan.held or result.cut is None:
        raise typer.Exit(1)  # the cut was asked for and not written: the last line says why


def run_with_display(project: Path, options: BuildOptions) -> BuildResult:
    """Build with the live display, asking before spending when on a terminal; an error is said with the
    reason the cut was not written last."""
    from dataclasses import replace

    from shotlist.cli import STATE
    from shotlist.cli.render import no_cut_reason
    from shotlist.errors import ShotlistError
    from shotlist.pipeline import build as run_build

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    display = Display(live=sys.stderr.isatty())

    def confirm(the_plan: Plan) -> bool:
        typer.echo(plan_text(the_plan))
        return typer.confirm(
            f"Spend {money(the_plan.cost)} on {len(the_plan.generating)} shots?", default=False
        )

    try:
        with display:
            watched = replace(
                options, progress=display, confirm=confirm if interactive else None, on_wait=display.say
            )
            return run_build(project, watched)
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
    """What the build did, each failure with its one next step, and every dollar it spent."""
    made = sum(len(t) for t in result.made.values())
    lines = [f"failed  {shot}: {why}" for shot, why in result.failures.items()]
    lines += [
        f"{sp.action}  {sp.shot}: {sp.record.text(sp.again, sp.free)}" for sp in result.plan.held if sp.record
    ]
    lines += [
        f"shared  {shot}: sends the same request as {maker}; pinned its clip, free"
        for shot, maker in result.shared.items()
    ]
    lines += qc_lines(result)
    spent = "nothing spent"
    if result.spent:
        spent = f"spent {money(result.spent)}{' (estimate)' if result.spent_is_estimate else ''}"
    lines.append(
        f"{made} take{'s' if made != 1 else ''} generated, {spent}; "
        f"{len(result.plan.shots) - len(result.missing)}/{len(result.plan.shots)} shots pinned"
    )
    ended = [r for rs in result.records.values() for r in rs if r.cost]
    if ended:
        cost = sum(r.cost or 0.0 for r in ended)
        lines.append(
            f"  of which {money(cost)} for {len(ended)} job{'s' if len(ended) > 1 else ''} that left no clip "
            "(`shotlist takes ID` lists them)"
        )
    if result.failures:
        n = len(result.failures)
        lines.append(
            f"{n} shot{'s' if n > 1 else ''} failed; every success is stored and pinned, and each failure "
            "above ends with its next step"
        )
    if result.report is not None:
        lines.append(f"report: {result.report}")
    if result.cut is not None:
        lines.append(f"cut: {result.cut.path}")
    else:
        # each shot's own reason first (its remote copy is corrupt, or in no store), then the general fix
        lines += [f"missing  {sp.shot}: {sp.summary()}" for sp in result.plan.missing]
        if result.plan.missing:
            lines.append(
                "a pinned clip that is in no store is not regenerated unasked: `shotlist pull` if a teammate "
                "has it, else `shotlist build --regenerate-missing` pays for new ones"
            )
        lines.append(f"no cut written: no clip for {', '.join(result.missing) or 'some shots'}")
    return "\n".join(lines)


def qc_lines(result: BuildResult) -> list[str]:
    """One line per new take with QC findings ("qc  take 3 of door: frozen 1.2 s at 2.0 s")."""
    if not result.qc:
        return []
    from shotlist.qc import summary

    lines = []
    for shot, by_take in result.qc.items():
        for number, found in sorted(by_take.items()):
            if found:
                lines.append(f"qc      take {number} of {shot}: {summary(found)}")
    return lines


def elapsed_text(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} m {whole % 60:02d} s"


def event_text(event: ShotEvent) -> str:
    """One shot's state in words: ``queued (position 5)``, ``throttled by runway (account concurrency)``…"""
    state, message = str(event.state), event.message
    if state == "generating":
        text = "generating" if event.fraction is None else f"generating {event.fraction * 100:.0f} %"
    elif state == "queued":
        text = f"queued ({message})" if message.startswith("position") else f"queued {message}".rstrip()
    elif state in ("throttled", "retrying"):
        text = f"{state} {message}" if state == "throttled" else f"retrying: {message}"
    else:
        text = state + (f" ({message})" if message else "")
    return text


class Display:
    """Per-shot progress: a rich display on a terminal, plain lines (state changes only) otherwise."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress: Progress | None = None
        self.tasks: dict[str, Any] = {}  # rich TaskIDs
        self.last: dict[str, str] = {}

    def __enter__(self) -> Display:
        return self

    def start(self) -> None:
        """Begin the live display at the first event, so a confirmation question is asked on a quiet screen."""
        from rich.progress import BarColumn, Progress, TextColumn

        progress = Progress(
            TextColumn("{task.fields[shot]:<20}"),
            BarColumn(),
            TextColumn("{task.description}"),
            transient=False,
        )
        progress.start()
        self.progress = progress

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.progress is not None:  # rich is imported only once the live display has started
            self.progress.stop()
            self.progress = None

    def say(self, message: str) -> None:
        typer.echo(message, err=True)

    def __call__(self, event: ShotEvent) -> None:
        text = event_text(event)
        if event.elapsed is not None:
            text += f" · {elapsed_text(event.elapsed)}"
        if self.live and self.progress is None:
            self.start()
        if self.progress is not None:
            if event.shot not in self.tasks:
                self.tasks[event.shot] = self.progress.add_task(text, total=1.0, shot=event.shot)
            # queued, throttled, retrying: the bar stays where it was
            completed = 1.0 if event.state in ("done", "cached") else event.fraction
            self.progress.update(self.tasks[event.shot], description=text, completed=completed)
            return
        step = event_text(event)
        if event.state == "generating":
            step = f"generating {int((event.fraction or 0) * 4) * 25} %"  # plain output: quarters, not every poll
            text = step + (f" · {elapsed_text(event.elapsed)}" if event.elapsed is not None else "")
        if event.state != "retrying" and self.last.get(event.shot) == step:
            return  # state changes only; every poll in trouble is shown as it happens
        self.last[event.shot] = step
        typer.echo(f"{event.shot}: {text}")
