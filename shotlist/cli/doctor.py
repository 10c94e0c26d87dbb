"""`shotlist doctor`: is this machine ready to build — ffmpeg, provider keys, ComfyUI servers, price dates.

Each check gives ``ok``, ``warn`` or ``fail``. Only what every build needs fails (ffmpeg and the
filters the edit uses); a missing key only means that provider's models cannot be used. Keys are
reported by name, never by value.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import typer

from shotlist.cli.options import JsonOpt

if TYPE_CHECKING:
    from shotlist.catalog import ModelEntry

PRICE_MAX_AGE_DAYS = 90
COMFYUI_ENV = "SHOTLIST_COMFYUI_URLS"


@dataclass(frozen=True)
class Check:
    """One finding: its level, what was checked and what was found."""

    level: Literal["ok", "warn", "fail"]
    topic: str
    detail: str


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(as_json: JsonOpt = False) -> None:
    """Check this machine: ffmpeg, which provider keys are set, ComfyUI servers, the age of catalog prices."""
    from shotlist.catalog import catalog

    entries = list(catalog().values())
    checks = [
        *check_ffmpeg(),
        *check_keys(entries, os.environ),
        *check_comfyui(
            comfyui_urls(os.environ.get(COMFYUI_ENV, "")),
            configured=bool(os.environ.get(COMFYUI_ENV, "").strip()),
        ),
        *check_prices(entries, dt.date.today()),
    ]
    if as_json:
        import json

        typer.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for c in checks:
            typer.echo(f"{c.level:<5} {c.topic:<8} {c.detail}")
        fails, warns = sum(c.level == "fail" for c in checks), sum(c.level == "warn" for c in checks)
        typer.echo(f"doctor: {fails} problem{'s' * (fails != 1)}, {warns} warning{'s' * (warns != 1)}")
    if any(c.level == "fail" for c in checks):
        raise typer.Exit(1)


def check_ffmpeg() -> list[Check]:
    """The ffmpeg binary answers and has every filter and encoder the edit uses."""
    from shotlist import media

    try:
        exe = media.ffmpeg_exe()
        version = media.ffmpeg_version()
        missing = media.missing_filters()
    except (OSError, RuntimeError, media.MediaError, media.FfmpegUnusable) as exc:
        return [
            Check(
                "fail",
                "ffmpeg",
                f"no usable ffmpeg ({str(exc).splitlines()[0]}); reinstall shotlist (it ships ffmpeg in the "
                "imageio-ffmpeg wheel) or point SHOTLIST_FFMPEG at one",
            )
        ]
    if version == "unknown":
        return [Check("fail", "ffmpeg", f"{exe} does not run as ffmpeg; check SHOTLIST_FFMPEG")]
    if missing:
        return [Check("fail", "ffmpeg", f"ffmpeg {version} lacks {', '.join(missing)}, which the edit needs")]
    return [Check("ok", "ffmpeg", f"ffmpeg {version} with every filter and encoder the edit uses ({exe})")]


def missing_keys(entry: ModelEntry, environ: Mapping[str, str]) -> list[str]:
    """The environment variables a model needs that are not set (an alias in
    ``extra.env_alternatives`` counts for the name it stands in for)."""
    aliases: Mapping[str, list[str]] = entry.extra.get("env_alternatives") or {}
    return [
        name
        for name in entry.env
        if not any(environ.get(n, "").strip() for n in (name, *aliases.get(name, [])))
    ]


def check_keys(entries: Iterable[ModelEntry], environ: Mapping[str, str]) -> list[Check]:
    """Per provider (and key set): whether its keys are in the environment. Names only, never values."""
    groups: dict[tuple[str, tuple[str, ...]], list[ModelEntry]] = {}
    for e in entries:
        if e.env and e.status != "shutdown":
            groups.setdefault((e.provider, tuple(e.env)), []).append(e)
    out: list[Check] = []
    for (provider, names), models in groups.items():
        missing = missing_keys(models[0], environ)
        ids = ", ".join(m.id for m in models)
        if missing:
            out.append(
                Check("warn", "keys", f"{provider}: {', '.join(missing)} not set — {ids} cannot be used")
            )
        else:
            out.append(Check("ok", "keys", f"{provider}: {', '.join(names)} set — {ids}"))
    if out and all(c.level == "warn" for c in out):
        out.append(
            Check(
                "ok", "keys", "no provider key is set: the animatic backend still builds every shot offline"
            )
        )
    return out


def comfyui_urls(value: str) -> list[str]:
    """The ComfyUI servers a build uses: those SHOTLIST_COMFYUI_URLS names, else the default local one."""
    from shotlist.backends.comfyui import server_urls

    return server_urls(value)


def check_comfyui(urls: list[str], timeout: float = 3.0, *, configured: bool = True) -> list[Check]:
    """Each ComfyUI server a build would use answers ``GET /system_stats``.

    With SHOTLIST_COMFYUI_URLS unset the build uses 127.0.0.1:8188: it is checked too, and its
    silence is only a note (most projects use no ComfyUI at all)."""
    import httpx

    out: list[Check] = []
    for url in urls:
        shown = str(httpx.URL(url).copy_with(username=None, password=None))
        try:
            response = httpx.get(f"{url}/system_stats", timeout=timeout)
            response.raise_for_status()
            system = response.json().get("system", {})
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            if not configured:
                out.append(
                    Check(
                        "ok",
                        "comfyui",
                        f"no ComfyUI at {shown}, the default ({type(exc).__name__}); the comfyui/* models need "
                        f"one: start it there or name your servers in {COMFYUI_ENV} (e.g. http://gpu-box:8188)",
                    )
                )
                continue
            out.append(
                Check(
                    "warn",
                    "comfyui",
                    f"{shown} does not answer /system_stats ({type(exc).__name__}); "
                    "its shots cannot be generated there",
                )
            )
            continue
        devices = (
            ", ".join(str(d.get("name", "?")) for d in response.json().get("devices", []))
            or "no device listed"
        )
        where = "" if configured else f" (the default; {COMFYUI_ENV} names others)"
        out.append(
            Check(
                "ok",
                "comfyui",
                f"{shown} answers (ComfyUI {system.get('comfyui_version', '?')}; {devices}){where}",
            )
        )
    return out


def check_prices(
    entries: Iterable[ModelEntry], today: dt.date, max_age_days: int = PRICE_MAX_AGE_DAYS
) -> list[Check]:
    """Catalog prices have a date, and it is no older than ``max_age_days`` (price tables go stale)."""
    priced = [e for e in entries if not e.local and e.status != "shutdown"]
    undated, stale = [], []
    for e in priced:
        try:
            when = dt.date.fromisoformat(e.price.date)
        except ValueError:
            undated.append(e.id)
            continue
        if (today - when).days > max_age_days:
            stale.append(f"{e.id} ({e.price.date})")
    out = []
    if undated:
        out.append(Check("warn", "prices", f"no price date for {', '.join(undated)}"))
    if stale:
        out.append(
            Check(
                "warn",
                "prices",
                f"prices older than {max_age_days} days: {', '.join(stale)}; "
                "check the providers' pages before trusting `shotlist plan`",
            )
        )
    estimates = sum(e.price.source.upper().startswith("ESTIMATE") for e in priced)
    if not undated and not stale:
        out.append(
            Check(
                "ok",
                "prices",
                f"{len(priced)} priced models, all dated within {max_age_days} days "
                f"({estimates} marked as estimates)",
            )
        )
    return out
