"""Ask a model for a storyboard, check its answer like a file, and send the problems back until it is right.

Every answer goes through the front door: turned into storyboard text, loaded and validated by the same
loader as a file (``load_text``), then linted. Validation problems and lint errors are sent back with
their place (``shots[2].camera``), their message and their fix, and so are warnings while rounds remain;
at most ``REPAIR_ROUNDS`` repairs. The result is the best answer that validates with no lint error, or
the last answer's problems — never a storyboard shotlist made up itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shotlist.errors import Problem, StoryboardError, format_problems, loc_text
from shotlist.lint import Finding, Report, lint_project
from shotlist.llm import Answer, Ask, ChatClient, LlmError, Turn, Usage
from shotlist.load import Project, load_text

REPAIR_ROUNDS = 3

#: From an answer's data to storyboard text and the problems found on the way (before the loader's).
Build = Callable[[Any], tuple[str, list[Problem]]]


@dataclass
class Candidate:
    """One answer, checked: its storyboard text, the project it loads as, and what is wrong with it."""

    text: str
    project: Project | None = None
    problems: list[Problem] = field(default_factory=list)  # validation: the storyboard does not load
    findings: list[Finding] = field(default_factory=list)  # lint findings of the shots that matter
    report: Report | None = None
    # what the answer misses of the request (the shot count): warnings, sent back while rounds remain
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return len(self.problems) + sum(1 for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> int:
        return len(self.notes) + sum(1 for f in self.findings if f.level == "warning")

    @property
    def usable(self) -> bool:
        """It validates and breaks no lint rule at error level: it may be written."""
        return self.project is not None and self.errors == 0

    def feedback(self, *, warnings: bool) -> str:
        """The problems as a message to the model: place, message, fix; one per line."""
        lines = [
            f"- {loc_text(p.loc)}: {p.message}{' — fix: ' + p.fix if p.fix else ''}" for p in self.problems
        ]
        for f in self.findings:
            if f.level == "error" or (warnings and f.level == "warning"):
                lines.append(
                    f"- {loc_text(f.loc)} (shot '{f.shot}'): {f.level} [{f.rule}] {f.message} — fix: {f.fix}"
                )
        lines += [f"- {note}" for note in self.notes] if warnings else []
        n = len(lines)
        return (
            f"Your answer has {n} problem{'s' * (n != 1)}. Fix every one, change nothing else, and answer "
            "again in full.\n" + "\n".join(lines)
        )

    def shown(self, path: Path) -> str:
        """The problems as the user reads them: file:line, the line, the fix; then the lint findings."""
        out = [format_problems(path, self.problems, self.text)] if self.problems else []
        if self.report is not None and self.findings:
            out.append(self.report.format())
        return "\n".join(out)


@dataclass
class Outcome:
    """What the rounds came to: the chosen candidate (usable or the last one), tokens used, rounds taken."""

    candidate: Candidate
    usage: Usage
    rounds: int
    answers: list[Answer] = field(default_factory=list)


def check(
    build: Build, data: Any, path: Path, shots: Callable[[Project], set[str]] | None = None
) -> Candidate:
    """Check an answer's data as the storyboard file at ``path``; lint only ``shots(project)`` when given."""
    text, problems = build(data)
    candidate = Candidate(text, problems=list(problems))
    if problems:
        return candidate
    try:
        candidate.project = load_text(path, text)
    except StoryboardError as exc:
        candidate.problems = exc.problems
        return candidate
    report = lint_project(candidate.project)
    wanted = shots(candidate.project) if shots else None
    candidate.report = report
    candidate.findings = [f for f in report.findings if wanted is None or f.shot in wanted]
    report.findings = candidate.findings
    return candidate


async def converse(
    client: ChatClient,
    ask: Ask,
    judge: Callable[[Any], Candidate],
    say: Callable[[str], None],
    rounds: int = REPAIR_ROUNDS,
) -> Outcome:
    """Ask, judge the answer, send its problems back; stop at a clean answer or after ``rounds`` repairs."""
    best: Candidate | None = None
    usage = Usage()
    answers: list[Answer] = []
    candidate = Candidate("")
    sent = 0
    for n in range(rounds + 1):
        sent += 1
        try:
            answer = await client.send(ask)
        except LlmError as exc:
            if best is None:
                raise
            say(f"repair {n}: {exc}; keeping the best answer so far")  # a usable one is not thrown away
            break
        answers.append(answer)
        usage += answer.usage
        if answer.problem:
            candidate = Candidate(
                "", problems=[Problem((), answer.problem, "answer with the JSON object only")]
            )
        else:
            candidate = judge(answer.data)
        last = n == rounds
        say(_progress(n, candidate, last))
        if candidate.usable and (best is None or candidate.warnings < best.warnings):
            best = candidate
        if candidate.usable and (candidate.warnings == 0 or last):
            break
        if last:
            break
        said = answer.text if answer.data is None else json.dumps(answer.data, ensure_ascii=False)
        reply = candidate.feedback(warnings=True)
        ask = Ask(
            ask.system,
            (*ask.turns, Turn("assistant", said, answer.data, answer.call_id), Turn("user", reply)),
            ask.schema,
            ask.name,
            ask.max_tokens,
        )
    return Outcome(best or candidate, usage, sent, answers)


def _progress(n: int, c: Candidate, last: bool) -> str:
    what = "answer" if n == 0 else f"repair {n}"
    if c.usable and c.warnings == 0:
        return f"{what}: validates, lints clean"
    found = f"{c.errors} error{'s' * (c.errors != 1)}, {c.warnings} warning{'s' * (c.warnings != 1)}"
    return f"{what}: {found}" + ("" if last else "; sending them back")
