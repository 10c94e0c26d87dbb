"""Format problems the way DVC does: file:line:col, the place in the document, the line with a caret, the fix."""

from __future__ import annotations

from pathlib import Path

from shotlist.errors import Problem, loc_text

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
    text = "".join(" " if c == "\t" else "\ufffd" if c < " " or c == "\x7f" else c for c in line).rstrip()
    caret = max(col - 1, 0)
    if len(text) <= SNIPPET_WIDTH:
        return text, caret
    start = max(0, min(caret - SNIPPET_WIDTH // 2, len(text) - SNIPPET_WIDTH))
    end = start + SNIPPET_WIDTH
    shown = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return shown, caret - start + (1 if start else 0)
