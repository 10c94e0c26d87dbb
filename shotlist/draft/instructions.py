"""The instructions a language model gets: ``draft.j2`` filled with the lint's own rules, the target video
model's limits and its prompt dialect, so the model is told exactly what the checks will hold it to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shotlist.catalog import ModelEntry, get_model
from shotlist.lint import BEAT_SECONDS, MAX_CLIP_SECONDS, MAX_DIALOGUE_WORDS, RULES, WORDS_PER_SECOND
from shotlist.prompt import dialect_for_model, dialects
from shotlist.storyboard import CAMERA_MOVES, Angle, Framing, Mode, Speed
from shotlist.templating import render_document

MIN_CLIP_SECONDS = 4.0  # shorter clips give a model no time to move anything
COMMON_TRANSITIONS = (
    "cut",
    "dissolve",
    "fade",
    "fadeblack",
    "fadewhite",
    "wipeleft",
    "wiperight",
    "slideleft",
)


@dataclass(frozen=True)
class Task:
    """What is asked: a new storyboard (``draft``) or a change to one (``revise``)."""

    kind: str
    model: str = "animatic"  # the video model the shots are written for
    shots: int = 6
    total: float | None = None  # seconds the whole film should last
    aspect: str = "16:9"
    images: tuple[str, ...] = ()  # project-relative paths of images img2vid shots may start from
    shot: str | None = None  # revise: the one shot that may change


def _literal(kind: Any) -> list[str]:
    return [str(v) for v in kind.__args__]


def _durations(entry: ModelEntry) -> str:
    """The model's clip lengths inside the 4–8 s band drafts keep to, as words."""
    if isinstance(entry.durations, list):
        fits = [d for d in entry.durations if MIN_CLIP_SECONDS <= d <= MAX_CLIP_SECONDS] or entry.durations
        return ", ".join(f"{d:g}" for d in fits) + " s"
    return (
        ""
        if entry.durations.min <= MIN_CLIP_SECONDS and entry.durations.max >= MAX_CLIP_SECONDS
        else str(entry.durations)
    )


def context(task: Task) -> dict[str, Any]:
    """What ``draft.j2`` sees: plain data only."""
    entry = get_model(task.model)
    spec = dialects()[dialect_for_model(task.model)]
    return {
        "task": {
            "kind": task.kind,
            "shots": task.shots,
            "total": task.total,
            "aspect": task.aspect,
            "images": list(task.images),
            "shot": task.shot,
        },
        "model": {
            "id": entry.id,
            "name": entry.name,
            "modes": list(entry.modes),
            "durations": _durations(entry),
            "aspects": list(entry.aspects),
            "negative": entry.negative,
            "audio": bool(entry.audio),
            "refs": entry.refs,
            "prompt_chars": entry.prompt_chars,
        },
        "dialect": {
            "name": spec.name,
            "words": list(spec.words),
            "img2vid_words": list(spec.img2vid_words),
            "max_chars": min(spec.max_chars, entry.prompt_chars),
            "source": spec.source,
        },
        "rules": [
            {"id": r.id, "level": r.level, "summary": r.summary, "fix": r.fix}
            for r in RULES.values()
            if r.id != "unknown-rule"  # a draft silences nothing
        ],
        "vocab": {
            "modes": _literal(Mode),
            "framings": _literal(Framing),
            "angles": _literal(Angle),
            "moves": list(CAMERA_MOVES),
            "speeds": _literal(Speed),
            "transitions": list(COMMON_TRANSITIONS),
        },
        "limits": {
            "clip_min": MIN_CLIP_SECONDS,
            "clip_max": MAX_CLIP_SECONDS,
            "max_words": MAX_DIALOGUE_WORDS,
            "words_per_second": WORDS_PER_SECOND,
            "beat": BEAT_SECONDS,
        },
    }


def instructions(root: Path, task: Task) -> str:
    """``draft.j2`` (the project's own when it has one) rendered for ``task``."""
    return render_document(root, "draft", context(task))[0]


def expected_tokens(shots: int) -> int:
    """About how many tokens a storyboard of ``shots`` shots is as JSON (measured: ~185 a shot)."""
    return 300 + 200 * shots
