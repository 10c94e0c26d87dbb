"""The request each shot sends: a resolved shot rendered into its ShotSpec.

``shot_spec`` renders the prompt in the dialect of the model that will read it, fixes the output
size and rate, and names every input by content hash (an upstream shot's frame by that clip's hash
and the frame selector), so the spec's key is known before anything is generated. Pure: nothing
here writes or spends (the input-hash cache aside).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotlist.catalog.registry import ModelInfo
from shotlist.load import Project
from shotlist.resolve import ImageInfo, Ref, ResolvedShot
from shotlist.spec import MediaInput, ShotSpec
from shotlist.store import Store
from shotlist.storyboard import FrameRef

if TYPE_CHECKING:
    from shotlist.prompt import RenderedPrompt

LOCAL_MODEL = "animatic"  # cards are drawn locally whatever the shot's model


def model_of(shot: ResolvedShot, override: str | None) -> str:
    """The model that makes this shot: cards are always drawn locally; ``--model`` overrides the rest."""
    if shot.mode == "card":
        return LOCAL_MODEL
    return override or shot.model


class Waiting(Exception):
    """The shot starts from a frame of an upstream clip that this build has yet to make."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.upstream = upstream


def shot_spec(
    project: Project,
    shot: ResolvedShot,
    model: ModelInfo,
    store: Store,
    upstream_clip: Callable[[str], str | None],
    frame_path: Callable[[str, str], Path] | None = None,
) -> ShotSpec:
    """The exact request for one shot (take 1); raise Waiting when an upstream clip is not known yet.

    ``upstream_clip(shot_id)`` is the hash of the clip an upstream shot will have in this build (None:
    it is being generated). ``frame_path(clip, selector)`` extracts the frame a backend reads; without
    it (planning) the input carries no path — the key needs only the clip's hash and the selector.
    """
    from shotlist.prompt import render_prompt

    if shot.model != model.id and shot.mode != "card":
        shot = replace(shot, model=model.id)  # the prompt speaks the dialect of the model that will read it
    rendered = render_prompt(project, shot)
    out = project.board.output
    width, height = out.size()
    inputs: list[MediaInput] = []
    for role, source in (("image", shot.image), ("end_image", shot.end_image)):
        if isinstance(source, ImageInfo):
            inputs.append(_image_input(role, source, store))
        elif isinstance(source, FrameRef):
            clip = upstream_clip(source.shot)
            if clip is None:
                raise Waiting(source.shot)
            selector = source.frame if isinstance(source.frame, str) else f"{float(source.frame):g}"
            path = str(frame_path(clip, selector)) if frame_path else ""
            inputs.append(MediaInput(role=role, sha256=clip, frame=selector, upstream=source.shot, path=path))
    for ref in shot.refs:
        if ref.sheet:
            inputs.append(_sheet_input(project, ref, store, upstream_clip, build=frame_path is not None))
        for image in ref.images:
            inputs.append(replace(_image_input("ref", image, store), name=ref.name))
    return ShotSpec(
        shot=shot.id,
        backend=model.backend,
        model=model.id,
        mode=shot.mode,
        prompt=rendered.text if rendered else "",
        negative=rendered.negative if rendered else None,
        duration=shot.duration,
        width=width,
        height=height,
        aspect=out.aspect,
        fps=out.fps,
        seed=shot.seed,
        audio=bool(shot.audio.native),
        inputs=tuple(inputs),
        params=backend_params(model, shot, rendered),
    )


def _sheet_input(
    project: Project, ref: Ref, store: Store, upstream_clip: Callable[[str], str | None], *, build: bool
) -> MediaInput:
    """A continuity sheet, named by its shots' clip hashes (made only when the request is sent: ``build``)."""
    from shotlist.sheet import continuity_key, continuity_sheet

    parts = []
    for up in ref.sheet:
        clip = upstream_clip(up)
        if clip is None:
            raise Waiting(up)
        shot = project.shot(up)
        plays = (shot.trim.end or shot.duration) - shot.trim.start if shot.trim else shot.duration
        parts.append((clip, plays))
    path = str(continuity_sheet(store, parts)) if build else ""
    return MediaInput(
        role="ref",
        sha256=continuity_key(parts),
        frame="sheet",
        upstream=", ".join(ref.sheet),
        path=path,
        name=ref.name,
    )


def _image_input(role: str, image: ImageInfo, store: Store) -> MediaInput:
    return MediaInput(
        role=role,
        sha256=store.hashes.digest(image.path),
        width=image.width,
        height=image.height,
        path=str(image.path),
        name=image.rel,
    )


def backend_params(model: ModelInfo, shot: ResolvedShot, rendered: RenderedPrompt | None) -> dict[str, Any]:
    """The request's fields beyond the common ones (part of the key): a card's words, the camera move, and
    whatever the model's backend declares of its own (``ModelInfo.shot_params``)."""
    if shot.mode == "card" and shot.card is not None:
        c = shot.card
        return {
            "card": {"title": c.title, "subtitle": c.subtitle, "background": c.background, "color": c.color}
        }
    # Every backend gets the camera move: Kling maps it to camera_control, Seedance's static to
    # camera_fixed; the others read it from the prompt, where the dialect already wrote it.
    params: dict[str, Any] = {"camera": {"move": shot.camera.move, "speed": shot.camera.speed}}
    if model.shot_params is not None:
        params |= model.shot_params(shot, rendered.text if rendered else "")
    return params
