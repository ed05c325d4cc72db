"""What the harness's Locust-side code adds to each request, timed in isolation in a gevent
process: the recorder's `request` listener and the request-deadline timer.

    python bench/per_request_cost.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = 100_000


def main() -> int:
    import gevent
    import locust  # noqa: F401 - the gevent-patched process Locust runs in

    from loadtest.locustlib import pacing, recorder

    class Response:
        status_code = 200

    with tempfile.TemporaryDirectory() as tmp:
        recorder.RECORDER = recorder.Recorder(Path(tmp), None)
        t = time.perf_counter()
        for _ in range(N):
            recorder._on_request("GET", "/api/v1/documents", 1.234, 512, response=Response(),
                                 context={"intended": 1.0}, exception=None,
                                 start_time=time.time())
        rec = (time.perf_counter() - t) / N * 1e6
        recorder.RECORDER.flush()
    timer = gevent.Timeout(30, pacing.RequestTimeout)
    t = time.perf_counter()
    for _ in range(N):
        timer.start()
        timer.cancel()
    deadline = (time.perf_counter() - t) / N * 1e6
    print(f"recorder {rec:.1f} us, deadline timer {deadline:.1f} us per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
