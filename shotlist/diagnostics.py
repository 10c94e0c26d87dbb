"""Format problems the way DVC does: file:line:col, the place in the document, the fix, the line with a caret."""

from __future__ import annotations

from pathlib import Path

from shotlist.errors import Problem, loc_text


def format_problems(path: Path, problems: list[Problem], source: str | None = None) -> str:
    """All problems of one file as text, each with its snippet when the source is known."""
    lines = source.splitlines() if source is not None else []
    out: list[str] = []
    for p in problems:
        where = f"{path}:{p.line}:{p.col}" if p.line else str(path)
        head = f"{where}: {loc_text(p.loc)}: {p.message}" if p.loc else f"{where}: {p.message}"
        out.append(head)
        if p.line and 0 < p.line <= len(lines):
            text = lines[p.line - 1].replace("\t", " ")
            out.append(f"  {p.line:>4} | {text}")
            out.append(f"       | {' ' * max((p.col or 1) - 1, 0)}^")
        if p.fix:
            out.append(f"  fix: {p.fix}")
    n = len(problems)
    out.append(f"{n} problem{'s' if n != 1 else ''} in {path}")
    return "\n".join(out)
