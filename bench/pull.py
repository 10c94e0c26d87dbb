"""Pull time of 50 pinned clips from an S3 remote (moto's server on 127.0.0.1).

A teammate's first build after `git clone` pulls what the lock pins; this measures that transfer:
50 clips of CLIP_MB each (random bytes, so nothing compresses), pushed by clone A, pulled by a
fresh clone B with every object verified by its sha256 on arrival. Prints figures; not a test.

    python bench/pull.py [--clips 50] [--mb 1.0]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shotlist.media import ClipFacts  # noqa: E402
from shotlist.remote import Remote, pull, push  # noqa: E402
from shotlist.store import Store, Take  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--mb", type=float, default=1.0)
    args = ap.parse_args()
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        SHOTLIST_S3_ENDPOINT_URL=endpoint,
    )
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            a, b = Store(Path(tmp) / "a"), Store(Path(tmp) / "b")
            pins = {}
            for n in range(args.clips):
                src = a.tmp_path(f"c{n}")
                src.write_bytes(os.urandom(int(args.mb * 1e6)))
                sha = a.add_file(src)
                key = f"{n:064x}"
                a.add_take(
                    key,
                    {},
                    Take(
                        take=1,
                        sha256=sha,
                        shot=f"s{n}",
                        backend="bench",
                        model="bench",
                        job="",
                        cost=0.0,
                        cost_is_estimate=False,
                        time="",
                        facts=ClipFacts(duration=5.0),
                    ),
                )
                pins[key] = sha
            url = "s3://bench/project"
            t0 = time.perf_counter()
            pushed = push(a, Remote(url), pins)
            t1 = time.perf_counter()
            pulled = pull(b, Remote(url), pins)
            t2 = time.perf_counter()
            total = pulled.bytes / 1e6
            assert len(pulled.sent) == args.clips and not pulled.corrupt and not pulled.missing
            print(f"push {len(pushed.sent)} clips ({pushed.bytes / 1e6:.0f} MB): {t1 - t0:.2f} s")
            print(
                f"pull {len(pulled.sent)} pinned clips ({total:.0f} MB, each verified by sha256): {t2 - t1:.2f} s "
                f"({total / (t2 - t1):.0f} MB/s)"
            )
            t3 = time.perf_counter()
            again = pull(b, Remote(url), pins)
            print(
                f"pull again with everything local: {time.perf_counter() - t3:.3f} s ({len(again.skipped)} skipped)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
