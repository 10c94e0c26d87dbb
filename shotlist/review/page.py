"""What the review page shows: the cut, and per shot its state, prompt, lint, plan reasons and every take.

``review_page`` gathers it from the same stages the commands use (load, plan, lint, the store's
takes, QC) and nothing else: the page is a view of the build system, it decides nothing itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from shotlist.catalog.registry import CatalogModels, Models
from shotlist.lint import Finding, lint_project
from shotlist.load import Project
from shotlist.lock import read_lock
from shotlist.plan import Action, ShotPlan, make_plan
from shotlist.qc import QcFinding, summary
from shotlist.spec import ShotSpec
from shotlist.store import Store
from shotlist.takes import TakeRow, rejected, shot_takes, takes_by_shot


@dataclass(frozen=True)
class TakeView:
    """One take as a player: its clip, who made it, what it cost, its QC."""

    number: int
    clip: str  # sha256 of the clip
    model: str
    cost: str
    time: str
    duration: float
    pinned: bool
    current: bool
    rejected: bool
    present: bool
    qc: list[QcFinding] | None  # None: not checked (drawn previz) or not measured yet

    @property
    def qc_text(self) -> str:
        return "not checked" if self.qc is None else summary(self.qc)


@dataclass(frozen=True)
class ShotView:
    """One shot: the strip's tile and its section of the page."""

    id: str
    line: int | None
    duration: float
    mode: str
    model: str
    state: str  # pinned, stale, to generate, missing, refused, failed
    cost: str  # what its pinned take cost
    take_cost: float | None  # what one new take would cost (None: unknown)
    prompt: str
    negative: str | None
    lint: list[Finding]
    reasons: list[str]
    poster: str | None  # the pinned clip, whose poster the strip shows
    takes: list[TakeView]  # this recipe's
    earlier: list[TakeView]  # takes of earlier recipes ("earlier prompt")


@dataclass(frozen=True)
class Cut:
    """The film the page plays: the final cut, or the preview when there is no final cut."""

    path: Path
    kind: str  # "cut" or "preview"
    captions: Path | None


@dataclass
class ReviewPage:
    """Everything the review page shows."""

    project: Project
    cut: Cut | None
    shots: list[ShotView] = field(default_factory=list)

    @property
    def storyboard(self) -> str:
        return self.project.path.name


def money(value: float | None) -> str:
    return "cost unknown" if value is None else "free" if value == 0 else f"${value:.2f}"


def current_cut(project: Project) -> Cut | None:
    """The final cut if it is there, else the preview, else None."""
    from shotlist.cut import output_path

    for kind, path in (("cut", output_path(project)), ("preview", output_path(project, preview=True))):
        if path.is_file():
            vtt = path.with_suffix(".vtt")
            return Cut(path, kind, vtt if vtt.is_file() else None)
    return None


def review_page(project: Project, models: Models | None = None) -> ReviewPage:
    """Gather the page from the project as it stands (its store, lock, plan, lint and last build)."""
    from shotlist.prompt import render_prompt

    models = models or CatalogModels()
    store = Store(project.root)
    lock = read_lock(project.root, lenient=True)
    plan = make_plan(project, store, lock, models)
    findings: dict[str, list[Finding]] = {}
    lint = lint_project(project)
    for f in lint.findings:
        findings.setdefault(f.shot, []).append(f)
    found = takes_by_shot(store)
    refused = rejected(store)
    failures = last_failures(project)
    page = ReviewPage(project=project, cut=current_cut(project))
    resolution = project.board.output.resolution
    for shot, sp in zip(project.shots, plan.shots, strict=True):
        entry = lock.get(shot.id)
        rows = shot_takes(store, found.get(shot.id, []), sp.key, entry, qc=project.board.qc, refused=refused)
        # The plan rendered the prompt for its spec already; a shot that waits for its upstream has none yet.
        rendered = sp.spec if sp.spec is not None else render_prompt(project, shot)
        info = models.info(sp.model)
        page.shots.append(
            ShotView(
                id=shot.id,
                line=lint.shot_lines[shot.id][0] if shot.id in lint.shot_lines else None,
                duration=shot.duration,
                mode=shot.mode,
                model=sp.model,
                state=_state(sp, entry is not None, failures.get(shot.id)),
                cost=money(entry.cost) if entry else "",
                take_cost=info.estimate(shot.duration, resolution, bool(shot.audio.native)),
                prompt=(rendered.prompt if isinstance(rendered, ShotSpec) else rendered.text)
                if rendered
                else "",
                negative=rendered.negative if rendered else None,
                lint=findings.get(shot.id, []),
                reasons=[] if sp.action == Action.PINNED else [sp.summary()],
                poster=entry.clip if entry and store.has_object(entry.clip) else None,
                takes=[_view(r) for r in rows if r.current],
                earlier=[_view(r) for r in rows if not r.current],
            )
        )
    return page


def _state(sp: ShotPlan, has_pin: bool, failure: str | None) -> str:
    if sp.action == Action.PINNED:
        return "pinned"
    if sp.action == Action.MISSING:
        return "missing"
    if failure is not None:
        return "refused" if "refused" in failure else "failed"
    # cached: a take of the new recipe is in the store, pinned for free by the next build
    return "stale" if has_pin or sp.action == Action.CACHED else "to generate"


def _view(r: TakeRow) -> TakeView:
    t = r.take
    return TakeView(
        number=t.take,
        clip=t.sha256,
        model=t.model,
        cost=money(t.cost) + (" (estimate)" if t.cost_is_estimate and t.cost else ""),
        time=t.time.replace("T", " ").rstrip("Z"),
        duration=t.facts.duration,
        pinned=r.pinned,
        current=r.current,
        rejected=r.rejected,
        present=r.present,
        qc=r.findings,
    )


def last_failures(project: Project) -> dict[str, str]:
    """Shot → why it failed, from the newest build report (beside the cuts, or in .shotlist/)."""
    from shotlist.cut import output_path

    reports = [
        p
        for p in (
            Store(project.root).dir / "last-build.json",
            *(
                o.with_name(o.stem + ".build.json")
                for o in (output_path(project), output_path(project, preview=True))
            ),
        )
        if p.is_file()
    ]
    if not reports:
        return {}
    try:
        data = json.loads(max(reports, key=lambda p: p.stat().st_mtime).read_text())
        return {str(k): str(v) for k, v in dict(data.get("failures") or {}).items()}
    except (OSError, ValueError, TypeError):
        return {}  # an unreadable report only means no failure is shown
