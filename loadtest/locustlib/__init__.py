"""Code that runs inside the Locust subprocess (imported by scenario files, never by the
harness: importing locust monkey-patches the process with gevent).

    pacing.py    the open-model schedule shared by the users of a process, PacedUser
    recorder.py  per-request samples, buffered, flushed periodically, one file per process
    workers.py   the master's record of workers lost during the test (workers.json)
    orphans.py   Locust's processes end when the harness (or their master) dies

The harness talks to this side through environment variables only:
    LOADTEST_LOCUST_RATE     aggregate requests per second for this process
    LOADTEST_LOCUST_ARRIVALS constant (default) | poisson
    LOADTEST_LOCUST_OUT      folder for samples and the start marker
"""

from loadtest.locustlib import recorder as _recorder  # noqa: F401 - registers listeners
from loadtest.locustlib import orphans as _orphans  # noqa: F401 - registers listeners
from loadtest.locustlib import workers as _workers  # noqa: F401 - registers listeners
from loadtest.locustlib.pacing import PacedUser

__all__ = ["PacedUser"]
