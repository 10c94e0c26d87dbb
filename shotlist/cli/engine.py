"""Commands of the build engine: plan, build, takes, pick, cache ls | verify | gc.

Only typer is imported at the top; each command imports what it needs, so `shotlist --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from shotlist.build import BuildResult, ShotEvent
    from shotlist.lock import Lock
    from shotlist.plan import Plan, ShotPlan
    from shotlist.resolve import Project as ProjectT
    from shotlist.store import Store

Project = Annotated[
    Path, typer.Argument(help="A project folder or a storyboard file (default: the current folder).")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Make every shot with this model (e.g. animatic: an offline preview of the whole film).",
    ),
]

cache_app = typer.Typer(
    help="The project's clip store (.shotlist/): list, verify, clean up.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(build)
    app.command()(takes)
    app.command()(pick)
    app.add_typer(cache_app, name="cache")
    cache_app.command("ls")(cache_ls)
    cache_app.command("verify")(cache_verify)
    cache_app.command("gc")(cache_gc)


def plan(
    project: Project = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="Exit 2 when something would be generated, 0 when not."),
    ] = False,
    model: ModelOpt = None,
) -> None:
    """Say what a build would do for each shot (pinned, cached, generate), why, and what it would cost."""
    import json

    from shotlist.errors import ShotlistError
    from shotlist.journal import Journal
    from shotlist.lock import read_lock
    from shotlist.plan import CatalogModels, make_plan
    from shotlist.project import load_project
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
    if detailed_exitcode and (the_plan.generating or the_plan.missing):
        raise typer.Exit(2)


def money(value: float | None) -> str:
    if value is None:
        return "cost unknown"
    return "free" if value == 0 else f"${value:.2f}"


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"~{seconds:.0f} s"
    return f"~{seconds / 60:.0f} min"


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
        for a in ("generate", "missing", "cached", "pinned", "skip")
    }
    summary = ", ".join(f"{n} {a if a != 'generate' else 'to generate'}" for a, n in counts.items() if n)
    if gen:
        cost = money(the_plan.cost)
        summary += f": {cost if cost == 'free' else 'about ' + cost}, {duration_text(the_plan.seconds)}"
    else:
        summary += ": nothing to generate"
    lines.append("")
    lines.append(summary)
    return "\n".join(lines)


def parse_money(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().lstrip("$").replace("USD", "").strip())
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not an amount of dollars (like 5 or 12.50)") from None
    if value < 0:
        raise typer.BadParameter("a budget cannot be negative")
    return value


def build(
    project: Project = Path("."),
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
    from shotlist.build import build as run_build

    limit = parse_money(budget)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    display = Display(live=sys.stderr.isatty())

    def confirm(the_plan: Plan) -> bool:
        typer.echo(plan_text(the_plan))
        return typer.confirm(
            f"Spend {money(the_plan.cost)} on {len(the_plan.generating)} shots?", default=False
        )

    try:
        with display:
            result = run_build(
                project,
                only=only,
                regenerate=regenerate,
                takes=takes,
                budget=limit,
                yes=yes,
                dry_run=dry_run,
                model=model,
                preview=preview,
                progress=display,
                confirm=confirm if interactive else None,
                on_wait=display.say,
                regenerate_missing=regenerate_missing,
            )
    finally:
        display.stop()
    if dry_run:
        typer.echo(plan_text(result.plan))
        return
    typer.echo(result_text(result))
    if result.failures:
        raise typer.Exit(1)


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
    if result.cut is not None:
        lines.append(f"cut: {result.cut.path}")
    elif result.missing:
        lines.append(f"no cut: no clip for {', '.join(result.missing)}")
        if result.plan.missing:
            lines.append(
                "a pinned clip that is in no store is not regenerated unasked: `shotlist pull` if a teammate "
                "has it, else `shotlist build --regenerate-missing` pays for new ones"
            )
    if result.report is not None:
        lines.append(f"report: {result.report}")
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


def takes(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    project: Project = Path("."),
    model: ModelOpt = None,
) -> None:
    """List a shot's takes (this recipe's first, then earlier recipes'), with cost; * marks the pinned one."""
    p, store, lock, sp = _shot_plan(project, shot, model)
    pinned = lock.get(shot)
    current = sp.key
    rows = []
    for recipe in store.entries():
        if recipe.shot != shot:
            continue
        for t in recipe.takes:
            rows.append((recipe.key == current, recipe.key, t))
    if not rows:
        typer.echo(
            f"{shot}: no takes in the store yet ({'`shotlist build` makes one' if current else 'its upstream shot must be built first'})"
        )
        return
    rows.sort(key=lambda r: (not r[0], r[2].time), reverse=False)
    typer.echo(f"takes of {shot} (pick one of this recipe with `shotlist pick {shot} TAKE`):")
    for is_current, key, t in rows:
        mark = "*" if pinned and pinned.clip == t.sha256 and pinned.key == key else " "
        where = "this recipe" if is_current else f"earlier recipe {key[:10]}"
        missing = "" if store.has_object(t.sha256) else "  (clip not in the store)"
        typer.echo(
            f" {mark} take {t.take:<3} {t.sha256[:12]}  {t.model:<14} {money(t.cost):>8}"
            f"{' est.' if t.cost_is_estimate else '     '} {t.facts.duration:6.2f} s  {t.time}  {where}{missing}"
        )


def pick(
    shot: Annotated[str, typer.Argument(help="A shot id.")],
    take: Annotated[
        int, typer.Argument(help="A take number of the shot's current recipe (see `shotlist takes`).")
    ],
    project: Project = Path("."),
    model: ModelOpt = None,
) -> None:
    """Pin a take of a shot in shotlist.lock (also resolves that shot's merge conflict in the lock)."""
    from shotlist.errors import ShotlistError
    from shotlist.lock import LockEntry, write_lock

    p, store, lock, sp = _shot_plan(project, shot, model)
    if sp.key is None:
        raise ShotlistError(
            f"{shot} starts from a frame of {sp.waits_for}, which has no clip yet; build it first"
        )
    recipe = store.entry(sp.key)
    chosen = recipe.take(take) if recipe else None
    available = [t.take for t in store.takes(sp.key)]
    if chosen is None or not store.has_object(chosen.sha256):
        listed = ", ".join(map(str, sorted(available))) or "none"
        raise ShotlistError(
            f"{shot} has no take {take} of its current recipe in the store (takes: {listed}); "
            f"`shotlist takes {shot}` lists them"
        )
    with store.locked("pick", timeout=30, on_wait=lambda m: typer.echo(m, err=True)):
        lock.entries[shot] = LockEntry(
            shot=shot,
            key=sp.key,
            take=chosen.take,
            clip=chosen.sha256,
            backend=chosen.backend,
            model=chosen.model,
            job=chosen.job,
            cost=chosen.cost,
            cost_is_estimate=chosen.cost_is_estimate,
        )
        write_lock(p.root, lock, [s.id for s in p.shots])
    typer.echo(f"{shot}: pinned take {chosen.take} ({chosen.sha256[:12]})")
    left = [s for s in lock.conflicted + lock.dropped if s != shot]
    if left:
        typer.echo(
            f"the lock's entries for {', '.join(left)} were in conflict or broken and are dropped; "
            "`shotlist plan` shows what a build does for them (their takes stay in the store)",
            err=True,
        )


def _shot_plan(project: Path, shot: str, model: str | None) -> tuple[ProjectT, Store, Lock, ShotPlan]:
    """The project, its store, its lock (read leniently: pick repairs it) and the plan of one shot."""
    from shotlist.errors import ShotlistError
    from shotlist.lock import read_lock
    from shotlist.plan import CatalogModels, make_plan
    from shotlist.project import load_project
    from shotlist.resolve import did_you_mean
    from shotlist.store import Store

    p = load_project(project)
    ids = [s.id for s in p.shots]
    if shot not in ids:
        raise ShotlistError(f"no shot '{shot}'{did_you_mean(shot, ids)}; the shots are: {', '.join(ids)}")
    store = Store(p.root)
    lock = read_lock(p.root, lenient=True)
    the_plan = make_plan(p, store, lock, CatalogModels(), model=model)
    return p, store, lock, next(s for s in the_plan.shots if s.shot == shot)


def cache_ls(project: Project = Path(".")) -> None:
    """List the takes in the store by shot: size, cost, and * for the pinned ones."""
    from shotlist.lock import read_lock
    from shotlist.project import load_project
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    pins = read_lock(p.root, lenient=True).pins()
    total = count = 0
    for recipe in sorted(store.entries(), key=lambda r: r.shot):
        for t in recipe.takes:
            size = store.object_path(t.sha256).stat().st_size if store.has_object(t.sha256) else 0
            mark = "*" if t.sha256 in pins else " "
            typer.echo(
                f" {mark} {recipe.shot:<20} take {t.take:<3} {t.sha256[:12]}  {size / 1e6:8.2f} MB  "
                f"{money(t.cost):>8}  {t.model}{'' if size else '  (clip missing)'}"
            )
    for _, path in store.objects():
        total += path.stat().st_size
        count += 1
    typer.echo(f"{count} objects, {total / 1e6:.2f} MB in {store.dir}")


def cache_verify(project: Project = Path(".")) -> None:
    """Re-hash every object in the store; report any whose bytes no longer match its name, or pins that are missing."""
    from shotlist.hashing import sha256_file
    from shotlist.journal import Journal
    from shotlist.lock import read_lock
    from shotlist.project import load_project
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    bad = []
    count = 0
    for sha, path in store.objects():
        count += 1
        if sha256_file(path) != sha:
            bad.append(f"corrupt: {path.relative_to(p.root)} (its bytes no longer hash to its name)")
    lock = read_lock(p.root)
    for shot, entry in lock.entries.items():
        if not store.has_object(entry.clip):
            bad.append(f"missing: the clip {entry.clip[:12]} pinned for {shot} is not in the store")
    pending = Journal(store.dir).entries()
    for j in pending:
        typer.echo(
            f"note: an interrupted build left take {j.take} of {j.shot} {j.state}"
            f"{f' (job {j.job})' if j.job else ''}; the next build resumes it"
        )
    for line in bad:
        typer.echo(line, err=True)
    if bad:
        typer.echo(
            f"{len(bad)} problem{'s' if len(bad) > 1 else ''}; remove corrupt objects with `shotlist cache gc` "
            "after re-picking, or rebuild the shots",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"{count} objects verified: all intact; every pinned clip is present")


def cache_gc(
    project: Project = Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete the takes and frames no lock entry pins (shows the bytes and what those takes cost first)."""
    import shutil

    from shotlist.journal import Journal
    from shotlist.lock import read_lock
    from shotlist.project import load_project
    from shotlist.store import Store

    p = load_project(project)
    store = Store(p.root)
    with store.locked("cache gc", timeout=30, on_wait=lambda m: typer.echo(m, err=True)):
        pins = read_lock(p.root).pins()
        keep = set(pins)
        frames = list(store.frame_refs())
        keep |= {frame for clip, _, frame in frames if clip in pins}
        doomed_takes = [(r.key, t) for r in store.entries() for t in r.takes if t.sha256 not in pins]
        doomed = [(sha, path) for sha, path in store.objects() if sha not in keep]
        size = sum(path.stat().st_size for _, path in doomed)
        cost = sum(t.cost or 0.0 for _, t in doomed_takes)
        # Backends' scratch (e.g. the animatic's renders) is needed only to resume a job still in the journal.
        work = store.dir / "work"
        scratch = (
            0
            if Journal(store.dir).entries() or not work.is_dir()
            else sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
        )
        if not doomed and not doomed_takes and not scratch:
            typer.echo("nothing to remove: every object is pinned by shotlist.lock")
            return
        typer.echo(
            f"would remove {len(doomed_takes)} unpinned take{'s' if len(doomed_takes) != 1 else ''} and "
            f"{len(doomed)} object{'s' if len(doomed) != 1 else ''}: {size / 1e6:.2f} MB; those takes cost "
            f"{money(cost)} to generate and cannot be fetched again"
            + (f"; and {scratch / 1e6:.2f} MB of backend scratch" if scratch else "")
        )
        if not yes:
            if not sys.stdin.isatty():
                typer.echo("not removed: pass --yes to delete without a terminal", err=True)
                raise typer.Exit(1)
            if not typer.confirm("Delete them?", default=False):
                raise typer.Exit(1)
        by_key: dict[str, set[str]] = {}
        for key, t in doomed_takes:
            by_key.setdefault(key, set()).add(t.sha256)
        for key, shas in by_key.items():
            store.remove_takes(key, shas)
        for clip, selector, _ in frames:
            if clip not in pins:
                store.forget_frame(clip, selector)
        freed = sum(store.remove_object(sha) for sha, _ in doomed)
        for tmp in (store.dir / "tmp").glob("*") if (store.dir / "tmp").is_dir() else []:
            tmp.unlink(missing_ok=True)
        if scratch:
            shutil.rmtree(work, ignore_errors=True)
    typer.echo(f"removed {len(doomed)} objects, {(freed + scratch) / 1e6:.2f} MB freed")
