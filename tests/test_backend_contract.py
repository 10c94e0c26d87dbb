"""The backend contract: the money rules every adapter keeps, pinned once and run against every provider's fake.

Generation is paid for, so whatever goes wrong between shotlist and a provider, a job is made once:
a finished job's video is fetched from that job (also after its link expired, also by a new process),
a throttled submit waits as long as the provider asks, a submit whose answer was lost is never sent
again by the adapter, and a refusal of the content is reported as a refusal with the provider's reason.
The per-provider files (tests/test_backend_<provider>.py) pin only the wire formats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from shotlist.backends.base import Backend, BackendError, JobState, Recoverable, SubmitUnknown
from shotlist.backends.http import SECRET_HEADERS, MissingCredentials
from shotlist.generate import verify_clip
from shotlist.spec import ShotSpec
from tests.fakes.hosted import finish, generate, make_spec, no_sleep, outcome, through
from tests.fakes.providers import PROVIDERS, Provider, Refusal
from tests.media_factory import make_clip

each_provider = pytest.mark.parametrize("provider", PROVIDERS, ids=str)


def refusing(when: str) -> pytest.MarkDecorator:
    """Run a test for every provider whose fake can refuse ``when`` (refused_job, refused_submit)."""
    cases = [(p, getattr(p, when)) for p in PROVIDERS if getattr(p, when)]
    return pytest.mark.parametrize("provider,refusal", cases, ids=[p.name for p, _ in cases])


@functools.cache
def clip(seconds: float) -> bytes:
    """A real H.264 clip of this length (16:9), as a provider would deliver it."""
    with tempfile.TemporaryDirectory() as tmp:
        return make_clip(Path(tmp) / "c.mp4", seconds=seconds, audio=False).read_bytes()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, provider: Provider[Any]) -> Any:
    """The provider's fake serving a real clip of the contract's duration, the adapter pointed at it."""
    with provider.serving(monkeypatch, clip(provider.duration)) as fake:
        yield fake


def spec_of(provider: Provider[Any], tmp: Path, **kw: Any) -> ShotSpec:
    return make_spec(provider.model, "txt2vid", tmp, duration=provider.duration, **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@each_provider
def test_submit_poll_fetch_gives_a_verified_video(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    spec = spec_of(provider, tmp_path)
    [(job, status)] = generate(provider.backend(tmp_path), spec, out=tmp_path / "out")
    clip_path = tmp_path / "out" / f"{spec.shot}.mp4"
    assert status.state is JobState.SUCCEEDED, status.message
    assert verify_clip(clip_path, spec).duration == pytest.approx(provider.duration, abs=0.1)
    assert clip_path.read_bytes() == clip(provider.duration)
    assert serve.submissions == 1 and len(serve.submits()) == 1 and job


@each_provider
def test_an_expired_link_is_read_again_from_the_job_never_resubmitted(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    backend = provider.backend(tmp_path)

    async def fetch_after_expiry() -> tuple[int, int]:
        job, _ = await through(backend, spec_of(provider, tmp_path), tmp_path / "first.mp4")
        serve.expire_links()  # the day passed: every link handed out so far is dead
        before = len(serve.log) - len(serve.downloads())
        try:
            await backend.fetch(job, tmp_path / "again.mp4")
        finally:
            await backend.aclose()
        return before, len(serve.log) - len(serve.downloads())

    if provider.fresh_links:
        reads_before, reads_after = run(fetch_after_expiry())
        assert (tmp_path / "again.mp4").read_bytes() == clip(provider.duration)
        assert reads_after > reads_before  # the job was read again for a fresh link
    else:  # the provider has no fresh link to give: a clear error, and the paid job is not redone
        with pytest.raises(BackendError) as info:
            run(fetch_after_expiry())
        assert not info.value.retryable and not info.value.refused
        assert not (tmp_path / "again.mp4").exists()
    assert serve.submissions == 1 and len(serve.submits()) == 1


@each_provider
def test_a_new_process_polls_the_same_job_and_never_submits_again(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    spec = spec_of(provider, tmp_path)

    async def killed_after_one_poll() -> str:
        backend = provider.backend(tmp_path)
        job = await backend.submit(spec)
        await backend.poll(job)
        await backend.aclose()
        return job

    job = run(killed_after_one_poll())
    # the engine's journal hands the job id to a new process, whose backend knows nothing else
    _, status = run(through(provider.backend(tmp_path), spec, tmp_path / "o.mp4", job=job))
    assert status.state is JobState.SUCCEEDED and (tmp_path / "o.mp4").read_bytes() == clip(provider.duration)
    assert serve.submissions == 1 and len(serve.submits()) == 1


@each_provider
def test_a_throttled_submit_waits_the_retry_after_the_provider_asks(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.rate_limit(*serve.submit_route, retry_after="1")
    backend = provider.backend(tmp_path)
    [(_, status)] = generate(backend, spec_of(provider, tmp_path), out=tmp_path)
    first, second = serve.submits()
    assert 1.0 <= second.at - first.at < 3.0  # waited the second asked for, not a blind backoff
    assert status.state is JobState.SUCCEEDED and serve.submissions == 1


@each_provider
def test_a_flaky_api_still_makes_one_job_per_shot(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.faults.rate_429, serve.faults.rate_5xx = 0.1, 0.1  # a fifth of all requests fail
    backend = provider.backend(tmp_path)
    backend.sleep = no_sleep  # type: ignore[attr-defined]
    specs = [
        spec_of(provider, tmp_path, shot=f"s{i}", prompt=f"Shot {i}: a lighthouse at dusk") for i in range(8)
    ]
    results = generate(backend, *specs, out=tmp_path)
    assert [status.state for _, status in results] == [JobState.SUCCEEDED] * 8
    assert serve.submissions == 8 and len({job for job, _ in results}) == 8
    assert len(serve.submits()) > 8  # faults did hit submits, and were retried safely
    assert all((tmp_path / f"{s.shot}.mp4").read_bytes() == clip(provider.duration) for s in specs)


@each_provider
def test_a_lost_submit_answer_is_never_sent_again(
    provider: Provider[Any], serve: Any, tmp_path: Path
) -> None:
    serve.lose_answers(*serve.submit_route)  # the provider makes the job; its answer never arrives
    spec = spec_of(provider, tmp_path)
    backend = provider.backend(tmp_path)

    async def submit_blind() -> tuple[str | None, str | None]:
        try:
            return await backend.submit(spec), None
        except SubmitUnknown:
            if not isinstance(backend, Recoverable):
                return None, None
            assert await backend.recover(dataclasses.replace(spec, take=2)) is None  # never sent
            return None, await backend.recover(spec)
        finally:
            await backend.aclose()

    job, recovered = run(submit_blind())
    assert serve.submissions == 1 and len(serve.submits()) == 1
    if job or recovered:  # the adapter found the job it made (by an id of its own): it is the one
        status = run(finish(provider.backend(tmp_path), job or recovered or ""))
        assert status.state is JobState.SUCCEEDED


@refusing("refused_job")
def test_a_job_refused_by_moderation_polls_as_refused_with_the_reason(
    provider: Provider[Any], refusal: Refusal, serve: Any, tmp_path: Path
) -> None:
    backend, spec = provider.backend(tmp_path), spec_of(provider, tmp_path, prompt=refusal.prompt)
    status = outcome(backend, spec, tmp_path)
    assert status.state is JobState.REFUSED and refusal.reason in (status.message or "")
    assert not (tmp_path / f"{spec.shot}.mp4").exists() and serve.submissions == 1


@refusing("refused_submit")
def test_a_submit_refused_by_moderation_raises_refused_with_the_reason(
    provider: Provider[Any], refusal: Refusal, serve: Any, tmp_path: Path
) -> None:
    with pytest.raises(BackendError) as info:
        run(provider.backend(tmp_path).submit(spec_of(provider, tmp_path, prompt=refusal.prompt)))
    assert info.value.refused and not info.value.retryable and refusal.reason in str(info.value)
    assert serve.submissions == 0 and len(serve.submits()) == 1  # turned down: nothing to pay for


@each_provider
def test_a_wrong_key_is_a_clear_error_that_is_neither_retried_nor_a_refusal(
    provider: Provider[Any], serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in provider.keys:
        monkeypatch.setenv(name, f"wrong-{name.lower()}-000000")
    with pytest.raises(BackendError) as info:
        run(provider.backend(tmp_path).submit(spec_of(provider, tmp_path)))
    assert not info.value.retryable and not info.value.refused
    assert serve.submissions == 0 and len(serve.submits()) == 1


@each_provider
def test_a_missing_key_names_the_variable_before_any_request(
    provider: Provider[Any], serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not provider.key_required:
        pytest.skip(f"{provider} needs no key")
    for name in provider.keys:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingCredentials, match=provider.keys[0]):
        run(provider.backend(tmp_path).submit(spec_of(provider, tmp_path)))
    assert serve.log == []


@each_provider
def test_keys_never_reach_logs_errors_or_another_host(
    provider: Provider[Any],
    serve: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    generate(provider.backend(tmp_path), spec_of(provider, tmp_path), out=tmp_path)
    keys = [value for name, value in provider.env(serve).items() if name in provider.keys]
    for name in provider.keys:
        monkeypatch.setenv(name, f"wrong-{name.lower()}-000000")
    with pytest.raises(BackendError) as info:
        run(provider.backend(tmp_path).submit(spec_of(provider, tmp_path)))
    sent = [v.split(" ")[-1] for r in serve.log for k, v in r.headers.items() if k in SECRET_HEADERS]
    for text in (caplog.text, str(info.value)):
        assert not [s for s in keys + sent if s in text]  # neither a key nor a token made from one
    api = urlsplit(serve.url).netloc
    elsewhere = [r for r in serve.downloads() if r.headers.get("host") != api]
    assert all(not SECRET_HEADERS & set(r.headers) for r in elsewhere)  # a CDN gets no credentials
    assert f"{provider} →" in caplog.text  # requests were logged, redacted


def test_the_contract_covers_every_backend_in_the_catalog() -> None:
    from shotlist.catalog import catalog

    backends = {e.provider for e in catalog().values() if e.backend and e.provider != "animatic"}
    assert backends == {p.name for p in PROVIDERS}
    assert all(isinstance(p.backend(Path(tempfile.gettempdir())), Backend) for p in PROVIDERS)
