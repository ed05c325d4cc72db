"""No orphan load: a Locust process ends when the process that started it dies, however it
dies (see loadtest/stack/processes.py). The harness sets the parent-death signal of the Locust it
starts; Locust's own worker processes (`--processes`) are forked by that master after this
module is imported, so each sets its own here: a worker gets SIGTERM (Locust's clean
shutdown) when its master dies. Where the kernel has no such signal, they watch the parent.
"""

from __future__ import annotations

import os
import signal

from locust import events

from loadtest.stack.processes import die_with_parent, guard_orphan, watch_parent

_MASTER_PID = os.getpid()  # imported before Locust forks its workers: the master's pid


@events.init.add_listener
def _on_init(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if os.getpid() != _MASTER_PID:  # a worker forked by the master (--processes)
        if not die_with_parent(signal.SIGTERM, _MASTER_PID):
            watch_parent(_MASTER_PID)
    else:
        guard_orphan()
