"""When the user pool grows, and to what (the rule of locustlib/pool.py, which watches a
running Locust; here without Locust, so it can be reasoned about and tested on its own).

A task may be a journey lasting seconds; a user runs one at a time. The pool grows:
- `busy` (or `late`, when a slot already is): (nearly) every user is inside a task; a pool
  sized by Little's law with its headroom runs two thirds busy;
- `long`: no task has finished yet and the oldest running has lasted longer than the pool
  allows for at this rate: its age is only the least a task lasts, and it grows, so waiting
  for a late slot would run out of users after the warm-up (tasks of 7 s at 5 starts/s from
  20 users: 40 at 4 s on a late slot, out of users at 8 s, a corrected p95 of 1 s on a
  healthy service); growing here keeps ahead of it (40 at 2.9 s, 80 at 5.9 s);
- `full`: the tasks finished so far ask for more than GROW_OVER times the pool (tasks that
  last longer under load would otherwise fill a pool sized from the first ones).
`busy`, `late` and `long` at least double the pool (the task time is then only a lower
bound); every growth is Little's law with POOL_HEADROOM, within the ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

POOL_HEADROOM = 1.5
LATE_S = 0.05        # a slot this late is late
BUSY_SHARE = 0.9     # "every user": at least this share of the pool inside a task
GROW_OVER = 1.1      # the tasks finished ask for this much more than the pool: it grows


@dataclass(frozen=True)
class Seen:
    """What the Locust process sees at one check."""
    users: int          # the pool today
    rate: float         # task starts/s (the profile's highest)
    late_s: float       # how late the next slot is (negative: not yet due)
    busy: int           # users inside a task
    done: int           # tasks finished so far
    done_s: float       # their total time
    oldest_s: float     # age of the oldest task running (0: none)

    @property
    def task_s(self) -> float:
        """What a task lasts as far as seen: the mean of those finished, or the oldest's age
        running if longer (early on, the finished ones are the short ones)."""
        return max(self.done_s / self.done if self.done else 0.0, self.oldest_s)


def wanted(users: int, rate: float, task_s: float, ceiling: int) -> int:
    """The next pool: Little's law with headroom, at least twice today's, within the ceiling."""
    return min(ceiling, max(2 * users, math.ceil(rate * task_s * POOL_HEADROOM)))


def grow(seen: Seen, ceiling: int) -> tuple[int, str] | None:
    """(the pool it should have, why) when a rule asks for more, else None; the pool it
    should have is today's or less only at the ceiling."""
    if seen.busy >= BUSY_SHARE * seen.users:
        new = wanted(seen.users, seen.rate, seen.task_s, ceiling)
        why = "late" if seen.late_s >= LATE_S else "busy"
    elif not seen.done and seen.rate * seen.oldest_s * POOL_HEADROOM > GROW_OVER * seen.users:
        new, why = wanted(seen.users, seen.rate, seen.task_s, ceiling), "long"
    elif seen.done and (need := math.ceil(seen.rate * seen.done_s / seen.done
                                          * POOL_HEADROOM)) > GROW_OVER * seen.users:
        new, why = min(ceiling, need), "full"
    else:
        return None
    return new, why
