"""``shotlist revise``: a plain-language change to a storyboard, applied so that nothing else moves.

The model answers with the changed or new shots (whole), the removed ids and the named blocks that
change. They are applied with ruamel.yaml's round trip, key by key: a value that means the same stays
as the person wrote it (``camera: static`` is not rewritten as ``{move: static, speed: slow}``), keys
outside what a model writes (``seed:``, ``lint:``, ``prompt:``...) are never touched, and every comment,
blank line and quote outside the change stays byte for byte. The result is checked like a file; its
plan says which shots regenerate and what that costs.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from shotlist.catalog import catalog
from shotlist.draft.form import SHOT_FIELDS, clean, left_out, named_map
from shotlist.draft.writer import SHOT_ORDER, TOP_ORDER, WIDTH, comment, flow, scalar
from shotlist.errors import Problem
from shotlist.llm import Ask, ChatClient, Turn, WireRequest
from shotlist.load import Project
from shotlist.storyboard import Character, ShotFields

if TYPE_CHECKING:
    from shotlist.draft.rounds import Outcome


@dataclass
class Revision:
    """A revision applied to the storyboard text: the new text, the shots it touches, what is wrong."""

    text: str
    changed: set[str] = field(default_factory=set)  # ids of changed and new shots
    removed: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


def _yaml(text: str) -> YAML:
    _, indent, offset = load_yaml_guess_indent(text)
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line the person wrote
    # ``- id:`` flush under ``shots:`` is an offset of 0, not a missing one
    y.indent(mapping=2, sequence=4 if indent is None else indent, offset=2 if offset is None else offset)
    y.explicit_start = re.search(r"^---\s*$", text, re.M) is not None
    y.explicit_end = re.search(r"^\.\.\.\s*$", text, re.M) is not None
    return y


@dataclass(frozen=True)
class _Envelope:
    """What ruamel does not give back on its own: a byte order mark, CRLF line ends, no final newline."""

    bom: str
    newline: str
    final: bool

    @classmethod
    def open(cls, text: str) -> tuple[_Envelope, str]:
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        body = text.removeprefix(bom)
        newline = "\r\n" if "\r\n" in body else "\n"
        body = body.replace("\r\n", "\n")
        return cls(bom, newline, body.endswith("\n")), body

    def close(self, body: str) -> str:
        if not self.final:
            body = body.removesuffix("\n")
        return self.bom + body.replace("\n", self.newline)


def _keep_anchors(node: Any, seen: set[int]) -> None:
    """Have every anchor the person wrote dumped again (ruamel drops one that no alias uses)."""
    if not isinstance(node, CommentedMap | CommentedSeq) or id(node) in seen:
        return
    seen.add(id(node))
    anchor = node.yaml_anchor()
    if anchor is not None:
        anchor.always_dump = True
    for child in node.values() if isinstance(node, CommentedMap) else node:
        _keep_anchors(child, seen)


def apply(text: str, data: Any, only: str | None = None) -> Revision:
    """Apply a revision answer to the storyboard ``text``."""
    if not isinstance(data, dict):
        return Revision(
            text,
            problems=[Problem((), "the answer is not a JSON object", "answer with {shots, removed, ...}")],
        )
    data = clean(data)
    envelope, body = _Envelope.open(text)
    y = _yaml(body)
    doc = y.load(body)
    _keep_anchors(doc, set())
    rev = Revision(text)
    shots = doc.get("shots")
    if not isinstance(shots, CommentedSeq):
        rev.problems.append(Problem(("shots",), "the storyboard has no list of shots", None))
        return rev
    _restrict(data, only, rev)
    answer = data["shots"] if isinstance(data.get("shots"), list) else []
    left_out(answer, rev.problems, lambda s: _shot_of(shots, s.get("id")))
    for i, item in enumerate(data.get("shots") or []):
        _apply_shot(shots, item, i, rev)
    for i, shot_id in enumerate(data.get("removed") or []):
        at = _index(shots, shot_id)
        if at is None:
            rev.problems.append(
                Problem(("removed", i), f"there is no shot '{shot_id}' to remove", "name an existing shot id")
            )
        else:
            del shots[at]
            rev.removed.add(str(shot_id))
    if isinstance(data.get("title"), str):
        doc["title"] = _rt(data["title"], 6)
    for block in ("styles", "characters"):
        if data.get(block):
            _apply_named(doc, block, named_map(data[block], block, rev.problems))
    out = io.StringIO()
    y.dump(doc, out)
    rev.text = envelope.close(out.getvalue())
    return rev


def _restrict(data: dict[str, Any], only: str | None, rev: Revision) -> None:
    """With ``--shot ID``, anything but that shot changing is a problem sent back to the model."""
    if only is None:
        return
    for i, item in enumerate(data.get("shots") or []):
        if isinstance(item, dict) and item.get("id") != only:
            rev.problems.append(
                Problem(
                    ("shots", i, "id"),
                    f"only the shot '{only}' may change, not '{item.get('id')}'",
                    "leave it out",
                )
            )
    if data.get("removed"):
        rev.problems.append(
            Problem(
                ("removed",), f"only the shot '{only}' may change; no shot is removed", "leave removed empty"
            )
        )


def _shot_of(shots: CommentedSeq, shot_id: Any) -> Any:
    at = _index(shots, shot_id)
    return None if at is None else shots[at]


def _index(shots: CommentedSeq, shot_id: Any) -> int | None:
    return next((i for i, s in enumerate(shots) if isinstance(s, dict) and s.get("id") == shot_id), None)


def _apply_shot(shots: CommentedSeq, item: Any, i: int, rev: Revision) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        rev.problems.append(Problem(("shots", i), "a shot needs its id", "give every shot its id"))
        return
    item = dict(item)
    intent, after = item.pop("intent", None), item.pop("after", None)
    at = _index(shots, item["id"])
    if at is not None:
        if _update(shots[at], item):
            rev.changed.add(item["id"])
        return
    new = CommentedMap((k, _rt(v, 4, k)) for k, v in _order(item))
    place = _index(shots, after) if after else None
    if after and place is None:
        rev.problems.append(
            Problem(
                ("shots", i, "after"),
                f"there is no shot '{after}' to put it after",
                "name an existing shot id",
            )
        )
    pos = len(shots) if place is None else place + 1
    if pos > 0:
        _move_tail(shots[pos - 1], new)  # the blank line after the shot before moves below the new one
    shots.insert(pos, new)
    note = comment(intent) if isinstance(intent, str) and intent.strip() else ""
    shots.yaml_set_comment_before_after_key(pos, before="\n" + note[2:] if note else "\n", indent=2)
    rev.changed.add(item["id"])


def _order(item: dict[str, Any]) -> list[tuple[str, Any]]:
    rank = {k: n for n, k in enumerate(SHOT_ORDER)}
    return sorted(item.items(), key=lambda kv: rank.get(kv[0], len(rank)))


def _same(key: str, old: Any, new: Any) -> bool:
    """Whether two values of a shot field mean the same (a shorthand and its long form do)."""
    if old == new:
        return True
    if isinstance(old, str) and isinstance(new, str):
        return old.strip() == new.strip()  # a block scalar's final newline is the file's, not the text's
    try:
        return bool(ShotFields.model_validate({key: old}) == ShotFields.model_validate({key: new}))
    except ValidationError:
        return False


def _update(shot: CommentedMap, new: dict[str, Any]) -> bool:
    """Change a shot in place, key by key, leaving what means the same as it was; True if anything changed."""
    keys = list(shot)
    tail = shot.ca.items.get(keys[-1]) if keys else None
    changed = False
    for key in [k for k in keys if k in SHOT_FIELDS and k not in new]:
        del shot[key]
        changed = True
    rank = {k: n for n, k in enumerate(SHOT_ORDER)}
    for key, value in _order(new):
        if key in shot:
            if not _same(key, shot[key], value):
                shot[key] = _rt(value, 4 + 2, key)
                changed = True
            continue
        before = [n for n, k in enumerate(shot) if rank.get(k, len(rank)) <= rank.get(key, len(rank))]
        shot.insert(before[-1] + 1 if before else 0, key, _rt(value, 4 + 2, key))
        changed = True
    if tail is not None and keys and list(shot)[-1] != keys[-1]:
        # the comment after the shot's last line (a blank line, a note) belongs after its new last line
        shot.ca.items.pop(keys[-1], None)
        shot.ca.items[list(shot)[-1]] = tail
    return changed


def _move_tail(old: CommentedMap, new: CommentedMap) -> None:
    if old and new:
        token = old.ca.items.pop(list(old)[-1], None)
        if token is not None:
            new.ca.items[list(new)[-1]] = token


def _rt(value: Any, indent: int, key: str = "") -> Any:
    """A value as ruamel should write it: short mappings and lists on one line, free text quoted."""
    if isinstance(value, dict):
        out: Any = CommentedMap((k, _rt(v, indent + 2, k)) for k, v in value.items())
    elif isinstance(value, list):
        out = CommentedSeq(_rt(v, indent + 2) for v in value)
    elif isinstance(value, str) and scalar(value).startswith('"'):
        return DoubleQuotedScalarString(value)
    else:
        return value
    one = flow(value)
    if one is not None and indent + len(key) + 2 + len(one) <= WIDTH:
        out.fa.set_flow_style()
    else:
        out.fa.set_block_style()
    return out


def _apply_named(doc: CommentedMap, block: str, items: dict[str, Any]) -> None:
    """Set the named styles or characters that change; the others stay as written."""
    if block not in doc or not isinstance(doc[block], dict):
        rank = {k: n for n, k in enumerate(TOP_ORDER)}
        before = [n for n, k in enumerate(doc) if rank.get(k, len(rank)) < rank[block]]
        doc.insert(before[-1] + 1 if before else 0, block, CommentedMap())
    target = doc[block]
    for name, value in items.items():
        old = target.get(name)
        if block == "characters" and old is not None:
            try:
                if Character.model_validate(old) == Character.model_validate(value):
                    continue
            except ValidationError:
                pass
        elif old == value:
            continue
        target[name] = _rt(value, 2, name)


def unified_diff(before: str, after: str, path: str) -> str:
    """The change as ``diff -u`` shows it."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(lines)


def first_ask(project: Project, instruction: str, only: str | None) -> Ask:
    """The first request: the instructions, the storyboard as it is, the change wanted."""
    from shotlist.draft.form import revise_schema
    from shotlist.draft.instructions import Task, instructions

    board = project.board
    model = board.defaults.model or "animatic"
    task = Task(
        "revise",
        model if model in catalog() else "animatic",
        len(board.shots),
        aspect=board.output.aspect,
        shot=only,
    )
    text = project.path.read_text(encoding="utf-8")
    scope = f"\nChange only the shot '{only}'." if only else ""
    user = f"The storyboard ({project.path.name}):\n```yaml\n{text}```\n\nThe change: {instruction.strip()}{scope}"
    return Ask(instructions(project.root, task), (Turn("user", user),), revise_schema(), "revision")


@dataclass(frozen=True)
class Effect:
    """What a revision does to the next build: the shots that regenerate and what they cost."""

    regenerate: list[str]
    removed: list[str]
    cost: float | None  # dollars (None: a model's price is unknown)

    def __str__(self) -> str:
        from shotlist.cli.options import money

        n = len(self.regenerate)
        if not n:
            text = "no shot will regenerate"
        else:
            cost = money(self.cost)
            text = (
                f"{n} shot{'s' * (n != 1)} will regenerate ({', '.join(self.regenerate)}), "
                f"{cost if cost in ('free', 'cost unknown') else 'about ' + cost}"
            )
        if self.removed:
            text += f"; {len(self.removed)} removed ({', '.join(self.removed)})"
        return text


def plan_effect(before: Project, after: Project) -> Effect:
    """Compare the plans of the storyboard before and after: a shot regenerates when its recipe changes,
    when it is new, or when it continues from a shot that regenerates."""
    from shotlist.catalog.registry import CatalogModels
    from shotlist.journal import Journal
    from shotlist.lock import read_lock
    from shotlist.plan import Action, make_plan
    from shotlist.store import Store

    store = Store(after.root)
    lock, models = read_lock(after.root), CatalogModels()
    old = {s.shot: s for s in make_plan(before, store, lock, models, journal=Journal(store.dir)).shots}
    new = make_plan(after, store, lock, models, journal=Journal(store.dir)).shots
    again: list[str] = []
    cost: float | None = 0.0
    for s in new:
        was = old.get(s.shot)
        if was is None or s.key != was.key or (s.key is None and s.waits_for in again):
            again.append(s.shot)
            if s.action == Action.GENERATE:
                cost = None if cost is None or s.cost is None else cost + s.cost
    removed = [k for k in old if k not in {s.shot for s in new}]
    return Effect(again, removed, cost)


async def revise_project(
    project: Project,
    instruction: str,
    only: str | None,
    client: ChatClient,
    say: Callable[[str], None],
    *,
    dry_run: bool = False,
) -> tuple[Outcome, Effect] | WireRequest:
    """The whole conversation for ``shotlist revise``: the estimate, the rounds, the plan's effect."""
    from shotlist.draft.rounds import REPAIR_ROUNDS, check, converse
    from shotlist.llm.prices import estimate_line
    from shotlist.llm.providers import settle_model

    text = project.path.read_text(encoding="utf-8")
    try:
        await settle_model(client)
        ask = first_ask(project, instruction, only)
        changed_out = 600 + len(text) // 4 // max(len(project.shots), 1)  # a shot or two, rewritten whole
        say(estimate_line(client, ask, changed_out, REPAIR_ROUNDS))
        if dry_run:
            return client.wire(ask)
        latest: list[Revision] = []

        def build(data: Any) -> tuple[str, list[Problem]]:
            latest[:] = [apply(text, data, only)]
            return latest[0].text, latest[0].problems

        def touched(_: Project) -> set[str]:
            return latest[0].changed  # lint the shots the revision changes; the others are the user's

        outcome = await converse(client, ask, lambda d: check(build, d, project.path, touched), say)
    finally:
        await client.aclose()
    after = outcome.candidate.project
    effect = plan_effect(project, after) if after is not None else Effect([], [], 0.0)
    return outcome, effect
