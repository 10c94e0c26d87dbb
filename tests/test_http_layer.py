"""The shared HTTP layer: what is retried, what never is, and that keys never leak."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shotlist.backends.base import BackendError, SubmitUnknown
from shotlist.backends.http import HttpLayer, RetryPolicy, image_bytes, redact, retry_after_seconds, secret


def layer(
    handler: Callable[[httpx.Request], httpx.Response], attempts: int = 4
) -> tuple[HttpLayer, list[float]]:
    slept: list[float] = []
    h = HttpLayer(
        "prov",
        "http://127.0.0.1:9",
        headers={"Authorization": "Key sk-test-123456"},
        policy=RetryPolicy(attempts=attempts),
        transport=httpx.MockTransport(handler),
    )

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    h.sleep = fake_sleep
    return h, slept


def test_429_is_retried_after_the_servers_retry_after() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"})
        return httpx.Response(200, json={"ok": True})

    h, slept = layer(handler)
    assert asyncio.run(h.json("POST", "/jobs", submit=True)) == {"ok": True}
    assert len(calls) == 3 and slept == [7.0, 7.0]


def test_a_validation_error_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(422, json={"detail": "duration must be 5 or 10"})

    h, _ = layer(handler)
    with pytest.raises(BackendError, match="HTTP 422: .*duration must be 5 or 10") as info:
        asyncio.run(h.request("POST", "/jobs", submit=True))
    assert len(calls) == 1 and not info.value.retryable


def test_a_lost_answer_to_a_submit_is_never_resent() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    h, _ = layer(handler)
    with pytest.raises(SubmitUnknown):
        asyncio.run(h.request("POST", "/jobs", submit=True))
    assert len(calls) == 1


def test_a_lost_answer_to_a_poll_is_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"status": "running"})

    h, _ = layer(handler)
    assert asyncio.run(h.json("GET", "/jobs/1")) == {"status": "running"}


def test_the_key_never_appears_in_an_error_or_a_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROV_KEY", "sk-live-SECRET-value-42")
    key = secret("PROV_KEY")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": f"bad key {key}"})

    h, _ = layer(handler)
    caplog.set_level(logging.DEBUG, logger="shotlist.http")
    with pytest.raises(BackendError) as info:
        asyncio.run(h.request("GET", "/me", headers={"Authorization": f"Bearer {key}"}))
    assert key not in str(info.value) and "***" in str(info.value)
    assert key not in caplog.text
    assert redact(f"x {key} y") == "x *** y"


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds(None) is None


def test_images_are_reencoded_deterministically_to_fit_a_limit(tmp_path: Path) -> None:
    from PIL import Image

    src = tmp_path / "big.png"
    Image.effect_noise((1600, 900), 60).convert("RGB").save(src)
    first = image_bytes(src, max_bytes=200_000, max_px=1024)
    again = image_bytes(src, max_bytes=200_000, max_px=1024)
    assert first == again and len(first[0]) <= 200_000
    from io import BytesIO

    assert max(Image.open(BytesIO(first[0])).size) <= 1024
