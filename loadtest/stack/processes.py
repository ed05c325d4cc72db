"""Child processes of a run (target, Prometheus, Locust): each in its own session so a Ctrl-C
reaches only the harness, which stops them in order; stopped with SIGTERM, then SIGKILL.

A harness killed without warning (SIGKILL: a CI time limit, the OOM killer, a runner torn
down) runs no clean-up, so each child also dies with it by itself: on Linux the kernel sends
the child its parent-death signal (`prctl(PR_SET_PDEATHSIG)`, set in the child before exec).
That signal fires when the *thread* that forked the child exits: start children from the main
thread (or one that lives as long as they should). Locust's own worker processes
(`--processes`) are forked by the Locust master and set theirs in loadtest/locustlib. Where
prctl does not exist (macOS), the harness's Python children (the reference target, Locust)
watch their parent instead (`watch_parent`); a local Prometheus is not covered there.
"""

from __future__ import annotations

import ctypes
import os
import signal as _signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PARENT_ENV = "LOADTEST_PARENT_PID"  # set for Python children that watch their parent


def _load_prctl() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved here, never in a forked child


def die_with_parent(sig: int = _signal.SIGTERM, parent_pid: int | None = None) -> bool:
    """Have the kernel send `sig` to this process when its parent dies (Linux); False where
    that is not available. `parent_pid`: the parent expected; if it is already gone (it died
    before the call), exit at once."""
    if _PRCTL is None:
        return False
    if _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:  # type: ignore[operator]
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)
    return True


def watch_parent(parent_pid: int, sig: int = _signal.SIGTERM, every_s: float = 0.5) -> None:
    """Where there is no parent-death signal: a daemon thread that sends `sig` to this process
    once its parent is no longer `parent_pid` (the parent died and the child was re-parented).
    """
    def loop() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os.kill(os.getpid(), sig)

    threading.Thread(target=loop, name="watch-parent", daemon=True).start()


def guard_orphan() -> None:
    """In a Python child of the harness (the reference target): where the kernel does not
    send a parent-death signal, watch the parent named in LOADTEST_PARENT_PID."""
    parent = os.environ.get(PARENT_ENV, "")
    if _PRCTL is None and parent.isdigit() and int(parent) == os.getppid():
        watch_parent(int(parent))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call_dying_with_us(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run `argv` in the foreground to its end (`loadtest worker`); it ends with this process,
    however this process ends. `env`: its environment (default: this process's)."""
    parent = os.getpid()
    return subprocess.call(argv, env={**(os.environ if env is None else env),
                                      PARENT_ENV: str(parent)},
                           preexec_fn=(  # only prctl, as in Child
                               lambda: die_with_parent(_signal.SIGTERM, parent))
                           if _PRCTL is not None else None)


class Child:
    def __init__(self, name: str, argv: list[str], log_path: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 death_signal: int = _signal.SIGTERM) -> None:
        """`death_signal`: what the child gets when the harness dies without stopping it."""
        self.name = name
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        parent = os.getpid()
        env = dict(os.environ if env is None else env)
        env[PARENT_ENV] = str(parent)
        # preexec_fn only calls prctl, resolved before the fork (no import, no lock taken)
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                     start_new_session=True,
                                     preexec_fn=(  # noqa: PLW1509
                                         lambda: die_with_parent(death_signal, parent))
                                     if _PRCTL is not None else None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout_s: float = 5.0, sig: int = _signal.SIGTERM) -> int | None:
        """Stop the child (and its process group); return its exit code."""
        if self.alive():
            self.signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.signal(_signal.SIGKILL)
                self.proc.wait(timeout=5)
        else:
            # reap anything the child left in its group
            try:
                os.killpg(self.proc.pid, _signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()
        return self.proc.returncode

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
