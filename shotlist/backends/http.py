"""One async HTTP layer for every hosted provider and ComfyUI, over httpx.

What every adapter gets from here:
- credentials from the environment only, registered for redaction so they never reach a log or a message;
- retries with exponential backoff and jitter that honour ``Retry-After``, only for 429, 5xx and
  connection errors — never for a validation error or a refusal;
- submits that are never resent blindly: the official SDKs retry a POST whose answer was lost, so one
  lost answer can become three paid tasks. Here a submit is retried only
  when the server answered (429/5xx: it made nothing) or the connection never opened; a lost answer
  or a gateway timeout (504, 524: the provider may have made the job) raises SubmitUnknown and the
  engine reports it;
- per-provider concurrency (polling is the engine's: one loop, in shotlist.generate);
- downloads streamed to a temporary file with a size cap and a sha256, renamed only when complete.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import hashlib
import io
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from shotlist.backends.base import BackendError, SubmitUnknown
from shotlist.errors import ShotlistError

if TYPE_CHECKING:
    from shotlist.catalog import ImageLimits, ModelEntry
    from shotlist.spec import MediaInput, ShotSpec

log = logging.getLogger("shotlist.http")

_SECRETS: set[str] = set()

#: Headers whose values are secrets whatever they hold.
SECRET_HEADERS = {"authorization", "x-goog-api-key", "x-api-key", "api-key", "proxy-authorization", "cookie"}


class MissingCredentials(ShotlistError):
    """A provider's key is not in the environment."""


def secret(*names: str) -> str:
    """The first of these environment variables that is set; registered for redaction. Never logged."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            register_secret(value)
            return value
    raise MissingCredentials(
        f"set {' or '.join(names)} in the environment (shotlist never stores keys in files)"
    )


def register_secret(value: str) -> None:
    """Make ``redact`` hide this value (and its base64 form) wherever it appears."""
    if len(value) >= 6:
        _SECRETS.add(value)
        _SECRETS.add(base64.b64encode(value.encode()).decode())


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for s in sorted(_SECRETS, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with every registered secret hidden (for libraries that log headers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


def redacted_logger(name: str) -> logging.Logger:
    """A logger to hand to a library that logs what it sends (e.g. websockets logs request headers)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in SECRET_HEADERS else redact(v)) for k, v in headers.items()}


@dataclass
class RetryPolicy:
    """How hard to try. Times in seconds."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(30.0, connect=10.0))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap * 4)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))  # full jitter


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


#: A gateway's "the server behind me did not answer in time" (504; Cloudflare's 524): the request reached
#: the provider, so a submit answered so is of unknown outcome, never resent blindly. A 503 or 429 is
#: the service turning the request away before any work.
GATEWAY_TIMEOUTS = (504, 524)


def _retryable_status(code: int) -> bool:
    return code == 429 or 500 <= code <= 599


class HttpLayer:
    """An httpx.AsyncClient for one provider, with its retry, concurrency and logging rules."""

    def __init__(
        self,
        provider: str,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self.limit = asyncio.Semaphore(concurrency)
        for v in (headers or {}).values():
            register_secret(v.split(" ", 1)[-1])
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=self.policy.timeout,
            transport=transport,
            verify=verify,
            follow_redirects=True,
        )
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests replace it to skip waiting

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(
        self, method: str, url: str, *, submit: bool = False, ok: Iterable[int] = (), **kwargs: Any
    ) -> httpx.Response:
        """Send a request, retrying what is safe to retry; raise BackendError for a final error status.

        ``submit=True`` marks a request that creates paid work: a lost answer raises SubmitUnknown
        instead of being resent. ``ok`` lists error statuses the caller handles itself.
        """
        allowed = set(ok)
        last: Exception | None = None
        for attempt in range(self.policy.attempts):
            started = time.monotonic()
            try:
                async with self.limit:
                    self._log_request(method, url, kwargs)
                    response = await self.client.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                self._log_outcome(method, url, type(exc).__name__, started)
                last = exc  # the request never left: safe to send again
            except httpx.TransportError as exc:  # it may have reached the server
                self._log_outcome(method, url, type(exc).__name__, started)
                if submit:
                    raise SubmitUnknown(
                        f"{self.provider}: the answer to a submit was lost ({type(exc).__name__}); the job may exist "
                        "and may be charged. shotlist will not resend it blindly",
                        retryable=False,
                    ) from None
                last = exc
            else:
                self._log_outcome(method, url, f"HTTP {response.status_code}", started)
                self._log_response(response)
                if response.status_code < 400 or response.status_code in allowed:
                    return response
                last = self.error_status(response, submit)
                if attempt + 1 < self.policy.attempts:
                    wait = self.policy.delay(
                        attempt, retry_after_seconds(response.headers.get("retry-after"))
                    )
                    log.info(
                        "%s: %s %s → %s, retrying in %.1f s",
                        self.provider,
                        method,
                        redact(str(url)),
                        response.status_code,
                        wait,
                    )
                    await self.sleep(wait)
                continue
            if attempt + 1 < self.policy.attempts:
                await self.sleep(self.policy.delay(attempt, None))
        if isinstance(last, BackendError):
            raise BackendError(
                f"{last} (gave up after {self.policy.attempts} tries)", retryable=True, status=last.status
            )
        raise BackendError(
            f"{self.provider}: cannot reach {redact(str(self.client.base_url) or url)}: {redact(str(last))}",
            retryable=True,
        )

    def error_status(self, response: httpx.Response, submit: bool) -> BackendError:
        """The error of an answer with an error status, to retry; raised when retrying cannot help (a
        4xx) or may pay twice (a submit behind a gateway that gave up waiting)."""
        if not _retryable_status(response.status_code):
            raise BackendError(self.describe(response), retryable=False, status=response.status_code)
        if submit and response.status_code in GATEWAY_TIMEOUTS:
            raise SubmitUnknown(
                f"{self.describe(response)}: a gateway gave up waiting for the provider, which may have "
                "made (and may charge) the job. shotlist will not resend it blindly",
                status=response.status_code,
            )
        return BackendError(self.describe(response), retryable=True, status=response.status_code)

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """A request's JSON answer. One that is not JSON (a proxy's page) is retryable trouble, or on a
        submit answered 2xx a SubmitUnknown: the job may exist, and is never sent again blindly."""
        response = await self.request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise self.unreadable(response, "JSON", kwargs.get("submit", False)) from None

    async def object(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A request's answer as a JSON object (see ``json``; ``object_of``)."""
        return self.object_of(await self.request(method, url, **kwargs), submit=kwargs.get("submit", False))

    def object_of(self, response: httpx.Response, *, submit: bool) -> dict[str, Any]:
        """A response's JSON object; any other answer is retryable trouble, or on a submit answered 2xx a
        SubmitUnknown (a job may exist that shotlist cannot name)."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self.unreadable(response, "a JSON object", submit)
        return data

    def unreadable(self, response: httpx.Response, wanted: str, submit: bool) -> BackendError:
        """The error for an answer that is not ``wanted``."""
        what = self.describe(response).split(" → ", 1)[-1]
        text = f"{self.provider}: {response.request.method} {response.request.url.path} answered {what}, not {wanted}"
        if submit and response.status_code < 300:
            return SubmitUnknown(
                f"{text}; the job may exist and may be charged. shotlist will not resend it blindly"
            )
        return BackendError(text, retryable=True, status=response.status_code)

    def describe(self, response: httpx.Response) -> str:
        """A one-line account of an error response, without secrets; an HTML error page (a proxy's, a
        CDN's) by its title, not pasted whole."""
        body = response.text[:400].replace("\n", " ") if response.content else ""
        if "html" in response.headers.get("content-type", "") or body.lstrip().lower().startswith("<"):
            title = re.search(r"<title[^>]*>([^<]*)</title>|<h1[^>]*>([^<]*)</h1>", response.text, re.I)
            words = next((g for g in title.groups() if g), "") if title else ""
            body = f"an HTML page{f' ({words.strip()[:120]})' if words.strip() else ''}"
        return redact(
            f"{self.provider}: {response.request.method} {response.request.url.path} → "
            f"HTTP {response.status_code}{': ' + body if body else ''}"
        )

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int = 2_000_000_000,
        headers: Mapping[str, str] | None = None,
        expired: Iterable[int] = (403, 404, 410),
    ) -> str:
        """Stream ``url`` to ``dest`` (atomic, capped); return its sha256. ExpiredURL when the link is gone."""
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        gone = set(expired)
        for attempt in range(self.policy.attempts):
            digest = hashlib.sha256()
            size = 0
            started = time.monotonic()
            try:
                async with self.limit, self._stream_get(url, headers) as response:
                    self._log_outcome("GET", url, f"HTTP {response.status_code}", started)
                    if response.status_code in gone:
                        raise ExpiredURL(
                            f"{self.provider}: the result link answered HTTP {response.status_code}"
                        )
                    if response.status_code >= 400:
                        retryable = _retryable_status(response.status_code)
                        if retryable and attempt + 1 < self.policy.attempts:
                            await self.sleep(
                                self.policy.delay(
                                    attempt, retry_after_seconds(response.headers.get("retry-after"))
                                )
                            )
                            continue
                        await response.aread()  # streamed: read the (small) error body to name it
                        # a 5xx or 429 is the host's trouble, not the end of the clip: the next build asks again
                        raise BackendError(
                            self.describe(response), retryable=retryable, status=response.status_code
                        )
                    with open(tmp, "wb") as f:
                        async for chunk in response.aiter_bytes(1 << 20):
                            size += len(chunk)
                            if size > max_bytes:
                                raise BackendError(
                                    f"{self.provider}: the result is over {max_bytes} bytes; refused"
                                )
                            digest.update(chunk)
                            f.write(chunk)
                        f.flush()
                        os.fsync(f.fileno())
                os.replace(tmp, dest)
                return digest.hexdigest()
            except httpx.TransportError as exc:
                if attempt + 1 >= self.policy.attempts:
                    raise BackendError(
                        f"{self.provider}: download failed: {redact(str(exc))}", retryable=True
                    ) from None
                await self.sleep(self.policy.delay(attempt, None))
            finally:
                tmp.unlink(missing_ok=True)
        raise BackendError(f"{self.provider}: download failed", retryable=True)

    async def download_result(
        self,
        result_url: Callable[[bool], Awaitable[str]],
        dest: Path,
        *,
        max_bytes: int = 2_000_000_000,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Download a finished job's clip; if its link has expired, ask the job once more for a fresh one.

        ``result_url(expired)`` returns the job's result link, re-reading the job when ``expired`` is
        true. Nothing is ever resubmitted here: the clip was paid for, only its link went stale.
        """
        url = await result_url(False)
        try:
            return await self.download(url, dest, max_bytes=max_bytes, headers=headers)
        except ExpiredURL:
            log.info("%s: the result link has expired; asking the job for a fresh one", self.provider)
        url = await result_url(True)
        try:
            return await self.download(url, dest, max_bytes=max_bytes, headers=headers)
        except ExpiredURL:
            raise BackendError(
                f"{self.provider}: the job's result link has expired and the job gives no fresh one; "
                "the clip was generated (and paid for) but can no longer be downloaded",
                retryable=False,
            ) from None

    @contextlib.asynccontextmanager
    async def _stream_get(self, url: str, headers: Mapping[str, str] | None) -> AsyncIterator[httpx.Response]:
        """GET ``url`` streamed. Result links often live on another host (a CDN, a storage bucket): the
        provider's credentials go only to the provider's own origin, never to that host."""
        request = self.client.build_request("GET", url, headers=dict(headers or {}))
        base = self.client.base_url
        if base.host and _origin(request.url) != _origin(base):
            own = {k.lower() for k in (headers or {})}
            for name in SECRET_HEADERS - own:
                request.headers.pop(name, None)
        response = await self.client.send(request, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    def _log_outcome(self, method: str, url: str, outcome: str, started: float) -> None:
        """One line per request for ``-v``: provider, method, host and path (no query), outcome, time."""
        if log.isEnabledFor(logging.INFO):
            target = self.client.base_url.join(url) if self.client.base_url.host else httpx.URL(url)
            log.info(
                "%s %s %s%s → %s in %.2f s",
                self.provider,
                method,
                target.host,
                redact(target.path),
                outcome,
                time.monotonic() - started,
            )

    def _log_request(self, method: str, url: str, kwargs: Mapping[str, Any]) -> None:
        if log.isEnabledFor(logging.DEBUG):
            body = kwargs.get("json")
            log.debug(
                "%s → %s %s headers=%s body=%s",
                self.provider,
                method,
                redact(str(url)),
                redact_headers(dict(kwargs.get("headers") or {})),
                redact(_short(body)) if body else "-",
            )

    def _log_response(self, response: httpx.Response) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s ← HTTP %s %s",
                self.provider,
                response.status_code,
                redact(response.text[:300]) if "json" in response.headers.get("content-type", "") else "",
            )


class ExpiredURL(BackendError):
    """A result URL is no longer valid; the adapter asks the job for a fresh one (never resubmits)."""


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, default=str)
    # data URIs are long and not interesting in a log
    return text if len(text) < 600 else text[:600] + f"… ({len(text)} chars)"


def image_bytes(
    path: Path,
    *,
    max_bytes: int,
    max_px: int,
    min_px: int = 1,
    formats: Iterable[str] = ("PNG", "JPEG", "WEBP"),
) -> tuple[bytes, str]:
    """An input image as bytes and MIME type within a provider's limits, re-encoded deterministically if needed.

    Kept as-is when it already fits; else scaled so its long side is at most ``max_px`` and written as
    PNG, or JPEG at falling quality when PNG is still too large. Same input, same bytes.
    """
    from PIL import Image

    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        fmt = (im.format or "").upper()
        w, h = im.size
        if min(w, h) < min_px:
            raise BackendError(f"{path.name} is {w}×{h}; this model needs at least {min_px} px on each side")
        allowed = {f.upper() for f in formats}
        if fmt in allowed and len(raw) <= max_bytes and max(w, h) <= max_px:
            return raw, Image.MIME[fmt]
        scale = min(1.0, max_px / max(w, h))
        im2 = im.convert("RGB") if im.mode not in ("RGB", "L") else im.copy()
        if scale < 1.0:
            im2 = im2.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
        if "PNG" in allowed:
            buf = io.BytesIO()
            im2.save(buf, format="PNG", optimize=False)
            if buf.tell() <= max_bytes:
                return buf.getvalue(), "image/png"
        for quality in (92, 85, 75, 60, 45):
            buf = io.BytesIO()
            im2.save(buf, format="JPEG", quality=quality, optimize=False)
            if buf.tell() <= max_bytes:
                return buf.getvalue(), "image/jpeg"
    raise BackendError(f"{path.name} cannot be made smaller than {max_bytes} bytes for this provider")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def spec_resolution(spec: ShotSpec, entry: ModelEntry) -> str:
    """The resolution a model is asked for: the shot's size (short side) or the nearest the model makes."""
    short = min(spec.width, spec.height)
    return entry.resolution_for(f"{short}p") if short > 0 else entry.resolutions[0]


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def env_url(*names: str, default: str) -> str:
    """A provider's base URL: the first of these environment variables that is set (a proxy, a test
    server), else the provider's own."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return default


def job_parts(job_id: str, count: int, provider: str) -> list[str]:
    """Split a job id made of ``count`` parts joined by ``::`` (what a backend needs after a restart)."""
    parts = job_id.split("::")
    if len(parts) != count or not all(parts):
        raise BackendError(f"{provider}: '{job_id}' is not a job id of this backend", retryable=False)
    return parts


def input_image(media: MediaInput, limits: ImageLimits) -> tuple[bytes, str]:
    """An input image's bytes and MIME type, fitted to a model's limits (deterministic)."""
    if not media.path:
        raise BackendError(f"the {media.role} input {media.name or media.sha256[:12]} has no file to send")
    return image_bytes(
        Path(media.path),
        max_bytes=limits.max_bytes,
        max_px=limits.max_px,
        min_px=limits.min_px,
        formats=limits.formats,
    )


def input_data_uri(media: MediaInput, limits: ImageLimits) -> str:
    """An input image as a ``data:`` URI within a model's limits."""
    return data_uri(*input_image(media, limits))


def provider_concurrency(provider: str, default: int = 4) -> int:
    """How many requests at once the catalog allows a provider."""
    from shotlist.catalog import catalog

    return next((e.concurrency for e in catalog().values() if e.provider == provider), default)


def mapped_input(
    entry: ModelEntry, spec: ShotSpec, key: str, *, image: Callable[[MediaInput], Any]
) -> dict[str, Any]:
    """A model's input JSON for a shot, under the field names its catalog entry gives.

    ``entry.extra.fields`` maps shotlist's roles (prompt, negative, duration, aspect, resolution, seed,
    audio, image, end_image, refs, camera_fixed) to the API's names; ``extra.fields_<key>`` overrides
    them for one endpoint (``~`` removes one) and ``extra.fixed`` adds constant fields. A role the shot
    uses but the model has no field for is an error, never a silent drop. ``image`` turns an input
    image into what the API takes (a data URI, an uploaded file's URL).
    """
    merged = {"prompt": "prompt", **entry.extra.get("fields", {}), **entry.extra.get(f"fields_{key}", {})}
    fields: dict[str, str] = {role: name for role, name in merged.items() if name}
    body: dict[str, Any] = {fields["prompt"]: spec.prompt, **entry.extra.get("fixed", {})}

    def put(role: str, value: Any) -> None:
        if role in fields and value is not None:
            body[fields[role]] = value

    put("negative", spec.negative or None)
    put("duration", entry.wire_duration(spec.duration))
    put("aspect", spec.aspect)
    put("resolution", spec_resolution(spec, entry))
    put("seed", spec.seed)
    put("audio", bool(spec.audio))
    camera = spec.params.get("camera")
    if isinstance(camera, Mapping) and camera.get("move") == "static":
        put("camera_fixed", True)
    for role in ("image", "end_image"):
        media = spec.input(role)
        if media is not None:
            if role not in fields:
                raise BackendError(f"{entry.id}: its {key} endpoint takes no {role.replace('_', ' ')}")
            body[fields[role]] = image(media)
    refs = [image(m) for m in spec.inputs if m.role == "ref"]
    if refs:
        if "refs" not in fields:
            raise BackendError(f"{entry.id} takes no reference images")
        body[fields["refs"]] = refs
    if spec.mode == "img2vid" and spec.input("image") is None:
        raise BackendError(f"shot {spec.shot}: img2vid needs an image")
    return body
