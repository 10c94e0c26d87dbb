"""The shot's input images as the animatic uses them: read upright in RGB, cropped or fitted to a size."""

from __future__ import annotations

from PIL import Image, ImageOps

from shotlist.media import MediaError
from shotlist.spec import MediaInput


def open_rgb(path: str, what: str, need: tuple[int, int]) -> Image.Image:
    """The image at ``path`` upright and in RGB (transparency over black), decoded at no less than ``need``."""
    try:
        with Image.open(path) as src:
            # A JPEG can decode at 1/2..1/8 scale for free; either side may end up as the width (EXIF).
            side = max(*need, 1)
            src.draft("RGB", (side, side))
            im: Image.Image = ImageOps.exif_transpose(src)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            im = Image.new("RGB", rgba.size)
            im.paste(rgba, mask=rgba.getchannel("A"))
        return im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise MediaError(f"{what} {path or '(no path)'}: cannot read the image ({exc})") from exc


def source(image: MediaInput, what: str, size: tuple[int, int]) -> Image.Image:
    """An input picture; a frame taken from another shot's clip is cropped clear of the label and caption band.

    Without the crop a chained animatic would carry the upstream clip's caption and label inside its
    picture, under its own (the bands are drawn at the same places), and they would pile up along a chain.
    """
    im = open_rgb(image.path, what, size)
    if image.frame is None:
        return im
    unit = min(im.width, im.height)
    return im.crop((0, round(unit * 0.08), im.width, im.height - round(unit * 0.2)))


def cover(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``im`` scaled and centre-cropped to fill ``size``."""
    w, h = size
    scale = max(w / im.width, h / im.height)
    cw, ch = min(w / scale, im.width), min(h / scale, im.height)  # min: float noise must not leave the image
    box = ((im.width - cw) / 2, (im.height - ch) / 2, (im.width + cw) / 2, (im.height + ch) / 2)
    return im.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)


def contain(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``im`` scaled to fit inside ``size``, keeping its shape."""
    scale = min(size[0] / im.width, size[1] / im.height)
    return im.resize(
        (max(1, round(im.width * scale)), max(1, round(im.height * scale))),
        Image.Resampling.BICUBIC,
        reducing_gap=3.0,
    )
