"""Errors meant for people: each names the file, the place in the document, what is wrong and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Loc = tuple[str | int, ...]


def loc_text(loc: Loc) -> str:
    """``('shots', 3, 'camera')`` → ``shots[3].camera``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's file, at a place in the document."""

    loc: Loc
    message: str
    fix: str | None = None
    line: int | None = None  # 1-based; filled from the YAML marks when known
    col: int | None = None
    at_key: bool = False  # point at the key (an unknown or missing key), not at its value


class ShotlistError(Exception):
    """Base of every error shotlist reports to a user without a traceback."""

    exit_code = 1


@dataclass
class StoryboardError(ShotlistError):
    """A storyboard (or a file it names) is invalid. Exit status 2."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    source: str | None = None  # the file's text, for the snippet under each problem

    exit_code = 2

    def __str__(self) -> str:
        from shotlist.diagnostics import format_problems

        return format_problems(self.path, self.problems, self.source)


class LockError(ShotlistError):
    """``shotlist.lock`` cannot be read (a merge conflict, a hand edit)."""


class BuildError(ShotlistError):
    """A build could not finish; the message says what was kept and what to do."""
