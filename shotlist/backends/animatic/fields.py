"""What the animatic draws from a shot, as request fields of its own (part of the key).

The catalog names ``shot_params`` as the animatic provider's ``shot_params`` hook, so the engine asks
for these fields without knowing what they mean. The drawing reads them back: the title and subtitle
on the storyboard card, the caption and dialogue in the band under every frame. Light on purpose: the
engine imports this module to plan, without the drawing code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shotlist.resolve import ResolvedShot

CAPTION_WORDS = 12  # the caption is the prompt's opening: what the shot is, not its whole description


def shot_params(shot: ResolvedShot, prompt: str) -> dict[str, Any]:
    """The animatic's own fields for ``shot`` whose rendered prompt is ``prompt``."""
    # The label carries the shot id into the key: the animatic draws the id on the clip, so two shots
    # with the same words get their own (free) clips rather than one labelled with the other's id.
    params: dict[str, Any] = {"label": shot.id}
    if shot.subject:
        params["title"] = shot.subject
    if shot.action:
        params["subtitle"] = shot.action
    if prompt:
        words = prompt.split()
        params["caption"] = " ".join(words[:CAPTION_WORDS]) + ("…" if len(words) > CAPTION_WORDS else "")
    d = shot.audio.dialogue
    if d is not None:
        params["dialogue"] = f'{d.who}{f" ({d.how})" if d.how else ""}: "{d.says}"'
    return params
