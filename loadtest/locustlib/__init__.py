"""Code that runs inside the Locust subprocess (imported by scenario files, never by the
harness: importing locust monkey-patches the process with gevent).

    pacing.py    the open-model schedule shared by the users of a process, PacedUser
    recorder.py  per-request samples and task starts, buffered, flushed periodically; the
                 master writes its workers' samples
    workers.py   the master's record of workers lost during the test (workers.json)
    pool.py      the user pool, grown when tasks outlast it (the rule: load/growth.py)
    orphans.py   Locust's processes end when the harness (or their master) dies
    adopt.py     an unmodified locustfile's users: recorded, bounded, paced (open model);
                 loaded next to the file through addon/loadtest_harness.py
(`loadtest.locust_plugin`, imported by a team's own locustfile, judges a plain `locust
--headless` run with the same code.)

The harness talks to this side through environment variables only:
    LOADTEST_LOCUST_RATE     aggregate requests per second for this process
    LOADTEST_LOCUST_ARRIVALS constant (default) | poisson
    LOADTEST_LOCUST_OUT      folder for samples and the start marker
    LOADTEST_LOCUST_MODEL    open (default: tasks paced on the schedule) | closed
    LOADTEST_LOCUST_RUN_TIME seconds from the start marker to the load's end (recorder.py;
                             a shape: adopt.py); Locust's --run-time is only a backstop
"""

from loadtest.locustlib import orphans as _orphans  # noqa: F401 - registers listeners
from loadtest.locustlib import recorder as _recorder  # noqa: F401 - registers listeners
from loadtest.locustlib import workers as _workers  # noqa: F401 - registers listeners
from loadtest.locustlib.pacing import PacedUser

__all__ = ["PacedUser"]
