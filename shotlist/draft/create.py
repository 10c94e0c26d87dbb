"""``shotlist draft``: a new project from a logline or a script, written only once it validates.

The answer is checked in a staging folder that holds what the project will hold (the images given with
``--image``, the project's own templates), so images and templates are checked for real; the project
folder is written only after a usable answer, and never half.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shotlist.catalog import ModelEntry, get_model
from shotlist.draft.form import clean, draft_schema, left_out, named_map, split_intents
from shotlist.draft.instructions import Task, instructions
from shotlist.draft.rounds import Candidate, Outcome, check, converse
from shotlist.draft.writer import storyboard_text
from shotlist.errors import Problem, ShotlistError
from shotlist.llm import Ask, ChatClient, Turn, WireRequest
from shotlist.storyboard import ASPECTS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


@dataclass(frozen=True)
class DraftOptions:
    """What ``shotlist draft`` was asked for."""

    directory: Path
    logline: str = ""
    script: str = ""
    shots: int = 6
    aspect: str = "16:9"
    total: float | None = None  # seconds
    model: str = "animatic"
    images: tuple[Path, ...] = ()

    def task(self) -> Task:
        return Task("draft", self.model, self.shots, self.total, self.aspect, tuple(image_names(self.images)))


def image_names(images: tuple[Path, ...]) -> list[str]:
    """Where each ``--image`` goes in the project: ``assets/NAME``, a name given twice numbered."""
    out: list[str] = []
    for path in images:
        name, n = path.name, 2
        while f"assets/{name}" in out:
            name, n = f"{path.stem}-{n}{path.suffix}", n + 1
        out.append(f"assets/{name}")
    return out


def check_options(opts: DraftOptions) -> ModelEntry:
    """The target model's entry; ShotlistError (exit 2) for a folder, model, aspect or image that cannot be."""
    if (opts.directory / "storyboard.yaml").exists():
        raise _usage(
            f"{opts.directory / 'storyboard.yaml'} already exists; draft into a new folder, or use `shotlist revise`"
        )
    entry = get_model(opts.model)
    if opts.aspect not in ASPECTS:  # shotlist sets output.aspect: the model could never repair it
        raise _usage(f"--aspect {opts.aspect}: a storyboard's aspect is one of {', '.join(ASPECTS)}")
    if opts.aspect not in entry.aspects and "*" not in entry.aspects:
        raise _usage(f"{entry.id} does not make {opts.aspect} video; it makes {', '.join(entry.aspects)}")
    if not 1 <= opts.shots <= 60:
        raise _usage(f"--shots {opts.shots}: a draft has 1 to 60 shots")
    for image in opts.images:
        if not image.is_file() or image.suffix.lower() not in IMAGE_SUFFIXES:
            raise _usage(f"--image {image}: not a PNG, JPEG or WebP file")
    return entry


def _usage(message: str) -> ShotlistError:
    err = ShotlistError(message)
    err.exit_code = 2
    return err


def first_ask(opts: DraftOptions, root: Path) -> Ask:
    """The first request: the instructions, the logline or script, the draft schema."""
    wanted = f"{opts.shots} shots for {opts.aspect} video" + (
        f", about {opts.total:g} s in all" if opts.total else ""
    )
    story = f"Script:\n{opts.script.strip()}" if opts.script else f"Logline: {opts.logline.strip()}"
    user = f"{story}\n\nWrite the storyboard: {wanted}."
    return Ask(instructions(root, opts.task()), (Turn("user", user),), draft_schema(), "storyboard")


def board_of(
    data: Any, opts: DraftOptions, entry: ModelEntry
) -> tuple[dict[str, Any], dict[str, str], list[Problem]]:
    """The storyboard a draft answer describes (what shotlist decides added: version, output, the model)."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return (
            {},
            {},
            [
                Problem(
                    (),
                    "the answer is not a JSON object",
                    "answer with one object: {title, styles, characters, shots}",
                )
            ],
        )
    data = clean(data)
    shots, intents = split_intents(data.get("shots"))
    for i, shot in enumerate(shots):
        if not isinstance(shot, dict):
            problems.append(
                Problem(("shots", i), "a shot is an object", "write it as {id, intent, mode, ...}")
            )
    left_out(shots, problems)
    shots = [s for s in shots if isinstance(s, dict)]  # the problems say where the others were
    title = data.get("title") or "Untitled"
    if not isinstance(title, str):
        problems.append(Problem(("title",), "the title is text", "write the film's title as a string"))
        title = "Untitled"
    resolution = "720p" if "720p" in entry.resolutions or "*" in entry.resolutions else entry.resolutions[0]
    fps = 24 if 24 in entry.fps or 0 in entry.fps else entry.fps[0]
    board: dict[str, Any] = {
        "version": 1,
        "title": title,
        "output": {
            "resolution": resolution,
            "aspect": opts.aspect,
            "fps": fps,
            "file": f"out/{slug(title)}.mp4",
        },
        "defaults": {"model": opts.model},
        "styles": named_map(data.get("styles"), "styles", problems),
        "characters": named_map(data.get("characters"), "characters", problems),
        "shots": shots,
    }
    return {k: v for k, v in board.items() if v != {}}, intents, problems


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "cut"


def header(opts: DraftOptions, label: str) -> list[str]:
    source = f"the logline: {opts.logline}" if opts.logline else "a script"
    return [f"Drafted by `shotlist draft` with {label} from {source}"]


async def draft(
    opts: DraftOptions, client: ChatClient, say: Callable[[str], None], staging: Path, ask: Ask
) -> Outcome:
    """Ask, check in ``staging`` and repair. The chosen candidate's text is the file to write, with each
    shot's intent as the comment above it."""
    entry = check_options(opts)

    def build(data: Any) -> tuple[str, list[Problem]]:
        board, intents, problems = board_of(data, opts, entry)
        return storyboard_text(board, intents, header(opts, client.label)), problems

    def judge(data: Any) -> Candidate:
        candidate = check(build, data, staging / "storyboard.yaml")
        shots = data.get("shots") if isinstance(data, dict) else None
        made = len(shots) if isinstance(shots, list) else opts.shots
        if made != opts.shots:
            candidate.notes.append(
                f"shots: the answer has {made} shots and {opts.shots} were asked for — "
                f"write {opts.shots} (or fewer only if the story cannot hold that many)"
            )
        return candidate

    return await converse(client, ask, judge, say)


def stage(opts: DraftOptions, staging: Path) -> None:
    """Put in ``staging`` what the project will hold that a check reads: the images and the templates."""
    for image, rel in zip(opts.images, image_names(opts.images), strict=True):
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image, staging / rel)
    own = opts.directory / "templates"
    if own.is_dir():
        shutil.copytree(own, staging / "templates", dirs_exist_ok=True)


def write_project(opts: DraftOptions, outcome: Outcome, staging: Path) -> list[str]:
    """Write the drafted project into its folder; the files written, relative to it."""
    from shotlist.cli.init import ensure_gitignore
    from shotlist.durable import write_text
    from shotlist.storyboard import schema_text

    target = opts.directory
    target.mkdir(parents=True, exist_ok=True)
    written = ["storyboard.yaml", "shotlist.schema.json"]
    for rel in image_names(opts.images):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staging / rel, target / rel)
        written.append(rel)
    write_text(target / "shotlist.schema.json", schema_text())
    project = outcome.candidate.project
    title = project.board.title if project else "Untitled"
    if not (target / "README.md").exists():
        write_text(target / "README.md", readme(title, opts))
        written.append("README.md")
    if ensure_gitignore(target):
        written.append(".gitignore")
    write_text(target / "storyboard.yaml", outcome.candidate.text)  # last: its presence means "done"
    return written


def readme(title: str, opts: DraftOptions) -> str:
    story = f"> {opts.logline.strip()}" if opts.logline else "Drafted from a script."
    return (
        f"# {title}\n\n{story}\n\n"
        "Drafted by `shotlist draft`; edit `storyboard.yaml` by hand or with `shotlist revise`.\n\n"
        "    shotlist validate        # check the storyboard\n"
        "    shotlist plan            # what a build would make and cost\n"
        "    shotlist build           # the cut (an animatic until you pick a video model)\n"
    )


def staging_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="shotlist-draft-")


async def draft_project(
    opts: DraftOptions,
    client: ChatClient,
    staging: Path,
    say: Callable[[str], None],
    *,
    dry_run: bool = False,
) -> Outcome | WireRequest:
    """The whole conversation for ``shotlist draft``: the estimate, then the rounds (or, dry, the request)."""
    from shotlist.draft.instructions import expected_tokens
    from shotlist.draft.rounds import REPAIR_ROUNDS
    from shotlist.llm.prices import estimate_line
    from shotlist.llm.providers import settle_model

    try:
        await settle_model(client)
        stage(opts, staging)
        ask = first_ask(opts, staging)
        say(estimate_line(client, ask, expected_tokens(opts.shots), REPAIR_ROUNDS))
        if dry_run:
            return client.wire(ask)
        return await draft(opts, client, say, staging, ask)
    finally:
        await client.aclose()
