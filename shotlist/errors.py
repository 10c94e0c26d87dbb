"""Errors meant for people: each names the file, the place in the document, what is wrong and the fix.

Problems are formatted the way DVC does: file:line:col, the place in the document, the line with a
caret under the spot, and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
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


def closest(word: str, choices: Sequence[str]) -> str | None:
    """The choice a mistyped ``word`` most likely meant, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` — did you mean 'x'?`` or the empty string: the one spelling hint every message uses."""
    close = closest(word, choices)
    return f" — did you mean '{close}'?" if close else ""


_PASSWORD_IN_URL = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/@:\s\"']*):[^/@\s\"']*@", re.IGNORECASE)


def masked(text: str) -> str:
    """``text`` with the password of every URL in it (``scheme://user:password@host``) shown as ``***``:
    a secret never reaches a message, a log line or a file shotlist writes."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)


#: Lines longer than this are shown as a window around the caret, so a pasted blob stays readable.
SNIPPET_WIDTH = 100


def format_problems(path: Path, problems: list[Problem], source: str | None = None) -> str:
    """All problems of one file as text, each with its snippet when the source is known."""
    lines = source.splitlines() if source is not None else []
    out: list[str] = []
    for p in problems:
        where = f"{path}:{p.line}:{p.col}" if p.line else str(path)
        head = f"{where}: {loc_text(p.loc)}: {p.message}" if p.loc else f"{where}: {p.message}"
        out.append(head)
        if p.line and 0 < p.line <= len(lines):
            text, caret = snippet(lines[p.line - 1], p.col or 1)
            out.append(f"  {p.line:>4} | {text}")
            out.append(f"       | {' ' * caret}^")
        if p.fix:
            out.append(f"  fix: {p.fix}")
    n = len(problems)
    out.append(f"{n} problem{'s' if n != 1 else ''} in {path}")
    return "\n".join(out)


def snippet(line: str, col: int) -> tuple[str, int]:
    """The line as shown under a message, and the caret's offset in it (col is 1-based)."""
    # A tab shown as one space keeps the caret under the column the parser counted; other control
    # characters are shown as U+FFFD so the one a message is about can be seen.
    text = "".join(
        " " if c == "\t" else "\ufffd" if c < " " or c == "\x7f" else c for c in masked(line)
    ).rstrip()
    caret = max(col - 1, 0)
    if len(text) <= SNIPPET_WIDTH:
        return text, caret
    start = max(0, min(caret - SNIPPET_WIDTH // 2, len(text) - SNIPPET_WIDTH))
    end = start + SNIPPET_WIDTH
    shown = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return shown, caret - start + (1 if start else 0)


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
        return format_problems(self.path, self.problems, self.source)


class LockError(ShotlistError):
    """``shotlist.lock`` cannot be read (a merge conflict, a hand edit)."""


class BuildError(ShotlistError):
    """A build could not finish; the message says what was kept and what to do."""
