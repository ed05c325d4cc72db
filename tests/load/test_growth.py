"""The user pool's growth rule (loadtest/load/growth.py) on a simulated open schedule:
slots at a constant rate, a task starts at its slot when a user is free (late otherwise),
the rule checked every 0.25 s during the warm-up, as locustlib/pool.py does."""

from __future__ import annotations

import heapq
from collections.abc import Callable

from loadtest.load.growth import Seen, grow


def simulate(rate: float, task_s: Callable[[int], float], users: int = 20,
             until_s: float = 7.0, run_s: float = 20.0, ceiling: int = 1000
             ) -> tuple[list[tuple[float, int, str]], float]:
    """(the pool's changes (at, users, why), the latest start after `until_s`)."""
    running: list[tuple[float, float]] = []  # (end, start) of tasks inside a user
    done, done_s = 0, 0.0
    changes: list[tuple[float, int, str]] = []
    worst_after = 0.0
    slot, k, check = 0.0, 0, 0.25
    now = 0.0
    while slot < run_s:
        # the next event: a check, or the slot's task starting when a user is free
        free_at = slot if len(running) < users else max(slot, running[0][0])
        if check <= until_s and check < free_at:
            now = check
            check += 0.25
        else:
            now = free_at
        while running and running[0][0] <= now:
            end, start = heapq.heappop(running)
            done, done_s = done + 1, done_s + end - start
        if now == free_at and len(running) < users:
            if slot >= until_s:
                worst_after = max(worst_after, now - slot)
            heapq.heappush(running, (now + task_s(k), now))
            k += 1
            slot = k / rate
            continue
        seen = Seen(users=users, rate=rate, late_s=now - slot, busy=len(running), done=done,
                    done_s=done_s, oldest_s=max((now - s for _, s in running), default=0.0))
        growth = grow(seen, ceiling)
        if growth and growth[0] > users:
            users = growth[0]
            changes.append((round(now, 2), users, growth[1]))
    return changes, worst_after


def test_journeys_longer_than_the_warm_up_get_their_pool_before_it_ends() -> None:
    """Tasks of 7 s at 5 starts/s from 20 users (Locust's quickstart file, as CI ran it):
    waiting for a late slot grew to 40 at 4 s and ran out of users at 8 s, after a 7 s
    warm-up (a corrected p95 of 1 s on a healthy service). No slot is late after it."""
    changes, worst = simulate(5, lambda k: 7.0)
    assert changes[-1][1] >= 5 * 7 * 1.5 and changes[-1][0] < 7, changes
    assert {why for _, _, why in changes} <= {"busy", "long"}, changes  # before a slot is late
    assert worst == 0.0, (worst, changes)


def test_a_pool_that_carries_the_tasks_is_left_alone() -> None:
    changes, worst = simulate(5, lambda k: 1.0)  # 5 busy of 20
    assert changes == [] and worst == 0.0


def test_one_long_task_among_short_ones_does_not_size_the_pool() -> None:
    """Once tasks finish, their mean sizes the pool, not the oldest one's age: a 30 s task
    among 0.2 s ones leaves the pool alone."""
    changes, _ = simulate(10, lambda k: 30.0 if k == 3 else 0.2)
    assert changes == [], changes


def test_the_pool_is_told_with_what_grew_after_the_warm_up() -> None:
    from loadtest.load.runner import pool_text
    from loadtest.store.records import PoolChange, PoolRecord

    def change(at: float, frm: int, to: int, why: str) -> PoolChange:
        return PoolChange({"at_s": at, "from": frm, "users": to, "why": why, "task_s": 6.0,
                           "busy": frm, "late_s": 0.1, "rate": 5.0})

    pool = PoolRecord(initial=20, final=96, ceiling=1000, until_s=7.0, capped=False,
                      task_s=7.5, changes=[change(2.9, 20, 40, "long"),
                                           change(9.3, 40, 96, "late")])
    assert pool_text(pool) == (
        "user pool: 20 -> 40 users during the warm-up (tasks last 7.50 s at 5 task starts/s: "
        "38 users busy by Little's law, with headroom); 96 from 9.3 s on, after the warm-up "
        "(every user busy)")
