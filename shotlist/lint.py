"""Prompt lint: rules from what makes video prompts work, each with a stable id, a level and a fix.

Each rule looks at one shot: the fields the user wrote and the prompt rendered for its dialect.
Findings point at the shot's line in the storyboard (or the field's, when the shot wrote it). A shot
silences a rule with ``lint: [rule-id]``; ``defaults: {lint: [...]}`` silences it for every shot.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from shotlist.errors import Loc, did_you_mean
from shotlist.load import Project
from shotlist.prompt import (
    Dialect,
    RenderedPrompt,
    collapse,
    dialects,
    render_prompt,
    save_prompts,
    word_count,
)
from shotlist.resolve import ResolvedShot

Level = Literal["error", "warning", "info"]
MAX_CLIP_SECONDS = 8.0
MAX_DIALOGUE_WORDS = 10
WORDS_PER_SECOND = 2.5  # an unhurried spoken line
BEAT_SECONDS = 0.5  # the pause a line needs before the cut


@dataclass(frozen=True)
class Rule:
    """One lint rule: its id (stable: users write it in ``lint:``), level, what it checks and the fix."""

    id: str
    level: Level
    summary: str
    fix: str


@dataclass(frozen=True)
class Finding:
    """One rule broken by one shot."""

    rule: str  # the rule's id
    level: Level
    shot: str  # the shot's id
    dialect: str  # the dialect the prompt was rendered in
    message: str
    fix: str
    loc: Loc  # where in the storyboard document
    line: int | None = None  # the storyboard line and column of ``loc``, once located
    col: int | None = None

    @classmethod
    def of(cls, rule: Rule, shot: str, dialect: str, message: str, loc: Loc) -> Finding:
        """``rule`` broken by ``shot`` at ``loc``, said with ``message`` and the rule's fix."""
        return cls(rule.id, rule.level, shot, dialect, message, rule.fix, loc)


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


RULES: dict[str, Rule] = _rules(
    Rule(
        "word-count",
        "warning",
        "prompt length outside the dialect's word band",
        "add what the shot lacks (light, motion, what stays still) or cut repetition",
    ),
    Rule(
        "char-limit",
        "error",
        "prompt longer than the model accepts",
        "shorten the prompt; the model refuses longer ones",
    ),
    Rule(
        "camera-moves",
        "error",
        "more than one camera move in the shot",
        "keep one camera move per shot; split the moves into separate shots",
    ),
    Rule(
        "motion-unqualified",
        "warning",
        "a motion verb with no speed or direction",
        "say how fast and which way: 'walks slowly toward the camera', not 'walks'",
    ),
    Rule(
        "nothing-still",
        "warning",
        "a moving shot with nothing held still",
        "add still: [what stays fixed], e.g. 'the horizon stays level'",
    ),
    Rule(
        "dialogue-long",
        "warning",
        "a spoken line over 10 words",
        "keep a line to 10 words or fewer; a clip has seconds, not paragraphs",
    ),
    Rule(
        "dialogue-delivery",
        "warning",
        "a spoken line with no delivery label",
        "add how: to the dialogue, e.g. how: whispering softly",
    ),
    Rule(
        "dialogue-fit",
        "warning",
        "a spoken line longer than the shot's time on screen on its own",
        "make the shot as long as the message says, shorten the line, or shorten the transitions around it",
    ),
    Rule("clip-long", "warning", "a clip longer than 8 seconds", "split the shot; models drift past 8 s"),
    Rule(
        "img2vid-redescribes",
        "warning",
        "an img2vid prompt that describes what the image shows",
        "describe only motion and camera; the image already shows the subject and the scene",
    ),
    Rule(
        "vague-verb",
        "warning",
        "a vague verb ('moves', 'does something')",
        "name the action: 'sways', 'turns her head', 'drifts left'",
    ),
    Rule(
        "negative-phrasing",
        "warning",
        "negative phrasing in the positive prompt ('no people')",
        "say what is there instead ('an empty street'), or put it in negative:",
    ),
    Rule(
        "non-english",
        "warning",
        "text that is not English",
        "write the prompt in English; most models follow English most reliably",
    ),
    Rule(
        "no-constraints",
        "warning",
        "the prompt has no closing constraint line",
        "end the prompt with the constraint line, e.g. constraints: 'No distortion. No jitter.'",
    ),
    Rule(
        "no-framing",
        "warning",
        "the prompt does not open with the framing (shot size)",
        "add framing: close-up | medium | wide | ...",
    ),
    Rule(
        "no-lighting",
        "warning",
        "no lighting described",
        "add lighting:, e.g. 'soft window light from the left'",
    ),
    Rule(
        "same-request",
        "warning",
        "two shots send exactly the same request",
        "they will share one clip; change one's text or seed if they should differ",
    ),
    Rule(
        "unknown-rule",
        "warning",
        "lint: names a rule that does not exist",
        "use a rule id from `shotlist lint --help`",
    ),
)


@dataclass
class Report:
    """Lint findings for one project, in storyboard order."""

    path: Path
    dialect: str | None  # forced dialect, or None: each shot's model decides
    shots: int
    findings: list[Finding]
    shot_lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # where each shot starts

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level == level)

    def failed(self, strict: bool = False) -> bool:
        """True when the lint should fail: any error, or any warning when strict."""
        return self.count("error") > 0 or (strict and self.count("warning") > 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "dialect": self.dialect,
            "shots": self.shots,
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "infos": self.count("info"),
            "findings": [
                {
                    "shot": f.shot,
                    "rule": f.rule,
                    "level": f.level,
                    "dialect": f.dialect,
                    "message": f.message,
                    "fix": f.fix,
                    "line": f.line,
                    "col": f.col,
                }
                for f in self.findings
            ],
        }

    def format(self) -> str:
        """Findings grouped by shot, each group headed by the shot's place in the storyboard."""
        out: list[str] = []
        current = None
        for f in self.findings:
            if f.shot != current:
                current = f.shot
                line, col = self.shot_lines.get(f.shot, (f.line or 1, f.col or 1))
                out.append(f"{self.path}:{line}:{col}: shot '{f.shot}' ({f.dialect})")
            out.append(
                f"  line {f.line}: {f.level} [{f.rule}] {f.message}"
                if f.line
                else f"  {f.level} [{f.rule}] {f.message}"
            )
            out.append(f"    fix: {f.fix}")
        errors, warnings, infos = self.count("error"), self.count("warning"), self.count("info")
        if not self.findings:
            out.append(f"{self.path}: {self.shots} shot{'s' * (self.shots != 1)}, no findings")
        else:
            out.append(
                f"{self.path}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
                f"{f', {infos} info' if infos else ''} in {self.shots} shot{'s' * (self.shots != 1)}"
            )
        return "\n".join(out)


def lint_project(project: Project, dialect: str | None = None) -> Report:
    """Lint every shot's prompt, for the given dialect or each shot's own model's dialect."""
    from shotlist.source import locate, read_yaml

    # a Project built by hand (tests, the API) may carry no marks: read them from the file then
    marks = project.marks or read_yaml(project.path)[1]
    findings: list[Finding] = []
    shot_lines: dict[str, tuple[int, int]] = {}
    twins = same_requests(project)
    also_ignore = tuple(project.board.defaults.lint or ())
    for shot in project.shots:
        start = locate(marks, ("shots", shot.index))
        if start is not None:
            shot_lines[shot.id] = start
        prompt = render_prompt(project, shot, dialect)
        # a shot's own lint: list replaces the defaults' when fields merge; project-wide ignores still hold
        found = lint_shot(shot, prompt, also_ignore, overlaps(project.shots, shot.index))
        if shot.id in twins and "same-request" not in set(shot.lint_ignore) | set(also_ignore):
            rule = RULES["same-request"]
            message = (
                f"shots {twins[shot.id]} and {shot.id} send the same request: they will share one clip; "
                "change one's text or seed"
            )
            dialect = prompt.dialect if prompt else "card"
            found.append(Finding.of(rule, shot.id, dialect, message, ("shots", shot.index)))
        findings += [_at(f, locate(marks, f.loc) or start) for f in found]
    save_prompts(project.root)
    return Report(project.path, dialect, len(project.shots), findings, shot_lines)


def same_requests(project: Project) -> dict[str, str]:
    """Shots whose request (prompt, inputs, settings, model) is an earlier shot's: shot → that shot.

    A build generates such a request once and pins its clip for both, so a shot meant to differ
    (another take, another angle) must differ in its text or its seed."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.errors import ShotlistError
    from shotlist.request import Waiting, model_of, shot_spec
    from shotlist.store import Store

    store, models = Store(project.root), CatalogModels()  # reads the input-hash cache, writes nothing
    first: dict[str, str] = {}
    twins: dict[str, str] = {}
    for shot in project.shots:
        try:
            info = models.info(model_of(shot, None))
            # a frame of an upstream shot stands for that shot's clip, whatever it will be
            spec = shot_spec(project, shot, info, store, lambda up: f"clip of {up}")
        except (Waiting, ShotlistError, OSError):
            continue
        twins.update({shot.id: first[spec.key]} if spec.key in first else {})
        first.setdefault(spec.key, shot.id)
    return twins


def lint_shot(
    shot: ResolvedShot,
    prompt: RenderedPrompt | None,
    also_ignore: tuple[str, ...] = (),
    transitions: tuple[float, float] = (0.0, 0.0),
) -> list[Finding]:
    """Every finding of one shot, its ignores and ``also_ignore`` applied (a card has no prompt, no findings).

    ``transitions`` are the seconds the shot shares with the shots before and after it (see ``overlaps``).
    """
    if prompt is None:
        return []
    spec = dialects()[prompt.dialect]
    ignored = set(shot.lint_ignore) | set(also_ignore)
    found: list[Finding] = []
    # every check is a generator: nothing runs until its findings are read, so ignored rules cost nothing
    checks = [(rule_id, check(shot, prompt, spec)) for rule_id, check in _CHECKS.items()]
    checks.append(("dialogue-fit", check_dialogue_fit(shot, transitions)))
    for rule_id, findings in checks:
        if rule_id in ignored:
            continue
        for message, loc in findings:
            found.append(
                Finding.of(RULES[rule_id], shot.id, prompt.dialect, message, ("shots", shot.index) + loc)
            )
    for name in sorted(ignored):
        if name not in RULES and "unknown-rule" not in ignored:
            message = f"lint: names '{name}', which is not a rule{did_you_mean(name, list(RULES))}"
            found.append(
                Finding.of(
                    RULES["unknown-rule"], shot.id, prompt.dialect, message, ("shots", shot.index, "lint")
                )
            )
    return found


def _at(f: Finding, where: tuple[int, int] | None) -> Finding:
    return f if where is None else replace(f, line=where[0], col=where[1])


# -- vocabulary -------------------------------------------------------------------------------------


def _words(*items: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(items) + r")\b", re.IGNORECASE)


# Camera moves as people write them in free text; each pattern is one move.
_CAMERA_TEXT: dict[str, re.Pattern[str]] = {
    "pan": _words(r"pan(?:s|ning|ned)?\s+(?:to\s+the\s+)?(?:left|right)", r"whip[- ]pan(?:s)?"),
    "tilt": _words(r"tilt(?:s|ing|ed)?\s+(?:up|down|upward|downward)"),
    "dolly": _words(
        r"doll(?:y|ies|ying|ied)\s+(?:in|out|forward|back)",
        r"push(?:es|ing)?[- ]in",
        r"pull(?:s|ing)?[- ](?:out|back)",
    ),
    "truck": _words(r"truck(?:s|ing)?\s+(?:left|right)"),
    "pedestal": _words(r"pedestal(?:s|ing)?\s+(?:up|down)"),
    "zoom": _words(r"zoom(?:s|ing|ed)?\s+(?:in|out)", r"dolly[- ]zoom"),
    "orbit": _words(r"orbit(?:s|ing)?", r"arc shot", r"circles? around the"),
    "crane": _words(r"crane(?:s|ing)?\s+(?:up|down|shot)", r"crane shot"),
    "tracking": _words(r"tracking shot", r"camera (?:tracks|follows)"),
    "handheld": _words(r"hand-?held"),
}
_CAMERA_OF_MOVE = {
    "pan-left": "pan",
    "pan-right": "pan",
    "tilt-up": "tilt",
    "tilt-down": "tilt",
    "dolly-in": "dolly",
    "dolly-out": "dolly",
    "truck-left": "truck",
    "truck-right": "truck",
    "pedestal-up": "pedestal",
    "pedestal-down": "pedestal",
    "zoom-in": "zoom",
    "zoom-out": "zoom",
    "orbit-left": "orbit",
    "orbit-right": "orbit",
    "crane-up": "crane",
    "crane-down": "crane",
    "tracking": "tracking",
    "handheld": "handheld",
}

_MOTION_STEMS = (
    "walk",
    "run",
    "turn",
    "spin",
    "rotate",
    "drift",
    "fall",
    "rise",
    "fly",
    "swirl",
    "sway",
    "flow",
    "roll",
    "slide",
    "jump",
    "dance",
    "wave",
    "float",
    "glide",
    "pour",
    "drip",
    "blow",
    "swing",
    "shake",
    "climb",
    "step",
    "lean",
    "rush",
    "race",
    "sprint",
    "stride",
    "wander",
    "crawl",
    "swim",
    "dive",
    "tumble",
    "bounce",
    "flutter",
    "ripple",
    "sweep",
    "lift",
    "raise",
    "reach",
    "drop",
    "leap",
    "twirl",
    "shift",
    "stream",
    "scatter",
    "spill",
    "splash",
    "nod",
    "wag",
    "hop",
    "skate",
    "ride",
    "drive",
    "move",
)


def _forms(stem: str) -> set[str]:
    forms = {stem, stem + "s", stem + "ed", stem + "ing"}
    if stem.endswith("e"):
        forms |= {stem[:-1] + "ing", stem + "d"}
    if stem.endswith("y"):
        forms |= {stem[:-1] + "ies", stem[:-1] + "ied"}
    if stem.endswith(("sh", "ch", "x", "s")):
        forms.add(stem + "es")
    if re.fullmatch(r"[^aeiou]*[aeiou][bdgmnprt]", stem):  # run → running, drop → dropped
        forms |= {stem + stem[-1] + "ing", stem + stem[-1] + "ed"}
    forms.add(
        {
            "run": "ran",
            "rise": "rose",
            "fall": "fell",
            "fly": "flew",
            "swim": "swam",
            "ride": "rode",
            "drive": "drove",
            "blow": "blew",
            "swing": "swung",
        }.get(stem, stem)
    )
    return forms


_MOTION = _words(*sorted({f for s in _MOTION_STEMS for f in _forms(s)}))
_QUALIFIER = _words(
    # speed
    "slow",
    "slowly",
    "gently",
    "gentle",
    "quick",
    "quickly",
    "fast",
    "rapidly",
    "rapid",
    "gradually",
    "softly",
    "steadily",
    "steady",
    "smoothly",
    "lazily",
    "briskly",
    "calmly",
    "suddenly",
    "swiftly",
    "leisurely",
    "subtly",
    "faintly",
    "lightly",
    "carefully",
    "hurriedly",
    "abruptly",
    "continuously",
    "rhythmically",
    "slow motion",
    "barely",
    "languidly",
    "unhurried",
    "sharply",
    "playfully",
    "delicately",
    "tenderly",
    "heavily",
    # direction
    "toward",
    "towards",
    "away",
    "left",
    "right",
    "up",
    "upward",
    "upwards",
    "down",
    "downward",
    "downwards",
    "forward",
    "forwards",
    "backward",
    "backwards",
    "back",
    "across",
    "around",
    "into",
    "onto",
    "out",
    "through",
    "past",
    "along",
    "over",
    "under",
    "off",
    "behind",
    "sideways",
    "above",
    "below",
    "from",
    "between",
    "beneath",
    "inward",
    "outward",
    "closer",
    "nearer",
    "clockwise",
    "counterclockwise",
    "ahead",
    "aside",
    "apart",
    "in place",
    "in circles",
    "to the",
)
# 'a drop', 'the wave', 'each step': a determiner just before a motion word makes it a noun
_DETERMINER = re.compile(
    r"\b(?:a|an|the|each|every|one|single|this|that|his|her|its|their|my|your|our)\s+$", re.IGNORECASE
)
_STILL = _words(
    r"stays?",
    r"remains?",
    r"holds? (?:still|steady|level)",
    "fixed",
    "motionless",
    "unmoving",
    "still",
    "locked",
    "static",
    "frozen",
    "steady",
    "level",
)
_VAGUE = _words(
    "moves",
    "move around",
    "moving around",
    "does something",
    "doing something",
    "something happens",
    "things happen",
    "stuff happens",
    "goes",
    "is in motion",
)
_NEGATIVE = _words("no", "not", "never", "without", "none", "nobody", "nothing", "avoid", r"\w+n't")
_FRAMING_OPEN = re.compile(
    r"^(?:\[[^\]]*\]\s*)?(?:extreme[ -])?(?:close[ -]?up|medium|wide|full|long|establishing|over[ -]the[ -]shoulder|"
    r"pov|point[ -]of[ -]view|macro|aerial|bird'?s[ -]eye|insert|two[ -]shot|cowboy|master)\b",
    re.IGNORECASE,
)
_LIGHT = _words(
    r"\w*light\w*",
    "lit",
    "sun",
    "sunny",
    "sunset",
    "sunrise",
    "dawn",
    "dusk",
    "glow",
    "glows",
    "glowing",
    "shadows?",
    "neon",
    "lamps?",
    "candles?",
    "backlit",
    "golden hour",
    "overcast",
    "noon",
    "moonlit",
    "illuminated",
    "rim[- ]lit",
    "chiaroscuro",
    "silhouetted?",
)
_APPEARANCE = _words(
    "wearing",
    "dressed in",
    "the image shows",
    "in the image",
    "in the picture",
    "in the photo",
    r"with (?:long|short|curly|straight|blonde|black|brown|red|grey|gray|white|dark) hair",
    r"(?:a|an) (?:young|old|elderly|middle-aged) (?:woman|man|girl|boy|person)",
)
_FOREIGN = {
    "el",
    "los",
    "las",
    "del",
    "und",
    "der",
    "die",
    "das",
    "ist",
    "nicht",
    "mit",
    "les",
    "des",
    "est",
    "une",
    "dans",
    "avec",
    "sur",
    "con",
    "por",
    "para",
    "que",
    "y",
    "et",
    "il",
    "zu",
    "auf",
    "een",
    "het",
    "och",
    "di",
    "della",
    "sono",
    "pero",
    "muy",
    "sehr",
    "très",
}
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")


# -- checks: each yields (message, loc under the shot) ----------------------------------------------

Check = Callable[[ResolvedShot, RenderedPrompt, Dialect], Iterable[tuple[str, Loc]]]


def _body(shot: ResolvedShot, prompt: RenderedPrompt) -> str:
    """The prompt without its constraint line and spoken lines: what the positive description says."""
    text = prompt.text
    constraints = collapse(shot.constraints)
    if constraints and text.endswith(constraints):
        text = text[: -len(constraints)]
    return _QUOTED.sub("", text)


def _free_text(shot: ResolvedShot, prompt: RenderedPrompt) -> list[tuple[str, Loc]]:
    """What the user wrote in their own words, with where: the fields, or the bypassing prompt."""
    if prompt.bypassed:
        return [(_body(shot, prompt), ("prompt",))]
    out: list[tuple[str, Loc]] = []
    for name in ("subject", "action", "scene"):
        value = getattr(shot, name)
        if value:
            out.append((value, (name,)))
    out += [(m, ("motion", i)) for i, m in enumerate(shot.motion)]
    out += [(s, ("still", i)) for i, s in enumerate(shot.still)]
    return out


def _motion_clauses(shot: ResolvedShot, prompt: RenderedPrompt) -> list[tuple[str, Loc]]:
    parts: list[tuple[str, Loc]]
    if prompt.bypassed:
        parts = [(s, ("prompt",)) for s in re.split(r"[.!?;]", _body(shot, prompt))]
    else:
        parts = ([(shot.action, ("action",))] if shot.action else []) + [
            (m, ("motion", i)) for i, m in enumerate(shot.motion)
        ]
    clauses: list[tuple[str, Loc]] = []
    for text, loc in parts:
        # 'and' and 'then' join actions that each need their own speed; 'as' and 'while' qualify one action
        clauses += [(c.strip(), loc) for c in re.split(r",|;|\band\b|\bthen\b", text) if c.strip()]
    return clauses


def check_word_count(shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect) -> Iterable[tuple[str, Loc]]:
    low, high = spec.band(shot.mode)
    if not low <= prompt.words <= high:
        side = "below" if prompt.words < low else "above"
        kind = "img2vid " if shot.mode == "img2vid" else ""
        yield f"{prompt.words} words, {side} the {spec.name} {kind}band of {low}–{high}", ()


def check_char_limit(shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect) -> Iterable[tuple[str, Loc]]:
    if prompt.chars > prompt.max_chars:
        yield f"{prompt.chars} characters; the model takes at most {prompt.max_chars}", ()


def check_camera_moves(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    named: dict[str, Loc] = {}
    if shot.camera.move != "static":
        named[_CAMERA_OF_MOVE[shot.camera.move]] = ("camera",)
    for text, loc in _free_text(shot, prompt):
        for kind, pattern in _CAMERA_TEXT.items():
            if pattern.search(text):
                named.setdefault(kind, loc)
    if len(named) > 1:
        where = next((loc for loc in named.values() if loc != ("camera",)), ())
        yield f"{len(named)} camera moves ({', '.join(sorted(named))}); a shot holds one", where


def check_motion_unqualified(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    for clause, loc in _motion_clauses(shot, prompt):
        verb = next(
            (m for m in _MOTION.finditer(clause) if not _DETERMINER.search(clause[: m.start()])), None
        )
        if verb and not _QUALIFIER.search(clause):
            yield f"'{clause}': '{verb.group(0)}' has no speed or direction", loc


def check_nothing_still(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    texts = _free_text(shot, prompt)
    moves = [kind for kind, p in _CAMERA_TEXT.items() if any(p.search(t) for t, _ in texts)]
    if shot.camera.move != "static":
        moves.insert(0, shot.camera.move)
    if not moves or shot.still or any(_STILL.search(t) for t, _ in texts):
        return
    yield f"the camera is moving ({moves[0]}) and nothing is held still", ("camera",)


def check_dialogue_long(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    d = shot.audio.dialogue
    if d is not None and word_count(d.says) > MAX_DIALOGUE_WORDS:
        yield (
            f"the line has {word_count(d.says)} words (at most {MAX_DIALOGUE_WORDS})",
            ("audio", "dialogue", "says"),
        )


def check_dialogue_delivery(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    d = shot.audio.dialogue
    if d is not None and not (d.how or "").strip():
        yield f"{d.who}'s line has no delivery label", ("audio", "dialogue")


def overlaps(shots: list[ResolvedShot], index: int) -> tuple[float, float]:
    """The seconds a shot shares with the shot before it and with the one after it (its transitions)."""

    def length(t: Any) -> float:
        return 0.0 if t.type == "cut" else float(t.duration)

    before = length(shots[index - 1].transition) if index > 0 else 0.0
    after = length(shots[index].transition) if index < len(shots) - 1 else 0.0
    return before, after


def check_dialogue_fit(shot: ResolvedShot, transitions: tuple[float, float]) -> Iterable[tuple[str, Loc]]:
    """A line needs ~1 s per 2.5 words plus a beat, inside the part of the shot that is on screen on its own:
    the shot less half of each transition, as its caption is shown (shotlist.timeline)."""
    d = shot.audio.dialogue
    if d is None:
        return
    start = shot.trim.start if shot.trim else 0.0
    end = shot.trim.end if shot.trim and shot.trim.end is not None else shot.duration
    shared = (transitions[0] + transitions[1]) / 2
    alone = end - start - shared
    words = word_count(d.says)
    needed = words / WORDS_PER_SECOND + BEAT_SECONDS
    if needed > alone + 1e-9:
        duration = math.ceil(shot.duration + needed - alone)
        yield (
            f"the line ({words} words) needs about {needed:.1f} s; the shot is on screen on its own for "
            f"{max(alone, 0):.1f} s — make it at least {duration} s",
            ("audio", "dialogue", "says"),
        )


def check_clip_long(shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect) -> Iterable[tuple[str, Loc]]:
    if shot.duration > MAX_CLIP_SECONDS:
        yield f"the clip lasts {shot.duration:g} s (at most {MAX_CLIP_SECONDS:g})", ("duration",)


def check_img2vid_redescribes(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    if shot.mode != "img2vid":
        return
    text = _body(shot, prompt).lower()
    described = [
        (shot.subject, "subject") if shot.subject and word_count(shot.subject) > 3 else (None, ""),
        (shot.scene, "scene"),
        (shot.lighting, "lighting"),
    ]
    described += [(c.look, "look") for c in shot.characters]
    for value, what in described:
        if value and collapse(value).lower() in text:
            yield f"the prompt repeats the {what} ('{value}') that the image already shows", ()
            return
    match = _APPEARANCE.search(text)
    if match:
        yield f"'{match.group(0)}' describes how the subject looks; the image shows that", ()


def check_vague_verb(shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect) -> Iterable[tuple[str, Loc]]:
    for text, loc in [(_body(shot, prompt), ())]:
        for m in sorted({m.group(0).lower() for m in _VAGUE.finditer(text)}):
            yield f"'{m}' says nothing a model can show", _field_with(shot, prompt, _VAGUE, m) or loc


def check_negative_phrasing(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    words = sorted({m.group(0).lower() for m in _NEGATIVE.finditer(_body(shot, prompt))})
    if words:
        yield (
            f"negative words in the prompt ({', '.join(words)}); models often draw what is negated",
            _field_with(shot, prompt, _NEGATIVE, words[0]) or (),
        )


def check_non_english(shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect) -> Iterable[tuple[str, Loc]]:
    text = prompt.text
    scripts = sorted(
        {
            unicodedata.name(ch, "?").split(" ")[0]
            for ch in text
            if ch.isalpha() and not unicodedata.name(ch, "LATIN").startswith("LATIN")
        }
    )
    if scripts:
        yield f"letters from a non-Latin script ({', '.join(s.title() for s in scripts)})", ()
        return
    foreign = sorted({w for w in re.findall(r"[^\W\d_]+", text.lower()) if w in _FOREIGN})
    if len(foreign) >= 3:
        yield f"words that look non-English ({', '.join(foreign)})", ()


def check_no_constraints(
    shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect
) -> Iterable[tuple[str, Loc]]:
    constraints = collapse(shot.constraints)
    if not constraints:
        yield "the constraint line is empty", ("constraints",)
    elif not prompt.text.endswith(constraints):
        yield (
            f"the prompt does not end with the constraint line '{constraints}'",
            ("prompt",) if prompt.bypassed else (),
        )


def check_no_framing(shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect) -> Iterable[tuple[str, Loc]]:
    if shot.mode != "img2vid" and not _FRAMING_OPEN.search(prompt.text):
        yield "the prompt does not open with a shot size", ()


def check_no_lighting(shot: ResolvedShot, prompt: RenderedPrompt, spec: Dialect) -> Iterable[tuple[str, Loc]]:
    if shot.mode != "img2vid" and not shot.lighting and not _LIGHT.search(_body(shot, prompt)):
        yield "nothing says how the shot is lit", ()


def _field_with(
    shot: ResolvedShot, prompt: RenderedPrompt, pattern: re.Pattern[str], word: str
) -> Loc | None:
    """The field the user wrote that holds a matched word, to point at its line."""
    for text, loc in _free_text(shot, prompt):
        if any(m.group(0).lower() == word for m in pattern.finditer(text)):
            return loc
    for name in ("lighting", "style"):
        value = getattr(shot, name)
        if value and any(m.group(0).lower() == word for m in pattern.finditer(value)):
            return (name,)
    return None


_CHECKS: dict[str, Check] = {
    "word-count": check_word_count,
    "char-limit": check_char_limit,
    "camera-moves": check_camera_moves,
    "motion-unqualified": check_motion_unqualified,
    "nothing-still": check_nothing_still,
    "dialogue-long": check_dialogue_long,
    "dialogue-delivery": check_dialogue_delivery,
    "clip-long": check_clip_long,
    "img2vid-redescribes": check_img2vid_redescribes,
    "vague-verb": check_vague_verb,
    "negative-phrasing": check_negative_phrasing,
    "non-english": check_non_english,
    "no-constraints": check_no_constraints,
    "no-framing": check_no_framing,
    "no-lighting": check_no_lighting,
}
# unknown-rule is checked while reading a shot's `lint:`, same-request across shots (lint_project),
# dialogue-fit with the shot's transitions (lint_shot)
assert set(_CHECKS) | {"unknown-rule", "same-request", "dialogue-fit"} == set(RULES), "every rule has a check"
