"""The terminal a person watches while a load command runs: progress messages, and the live
status (load/live.py's LiveStatus, a capacity search's SearchStatus) on one stream (stderr).

On a terminal the status is a view redrawn in place by rich, fitted to the terminal's width
(a long line is wrapped by rich, never left to the terminal, whose redraw would then leave half
lines): the clock, offered tasks/s against achieved req/s, p95, errors and generator CPU, each
objective's state and figure, and for a capacity search a bar over its steps with the time
left. Colour only where rich finds a terminal that takes it and NO_COLOR is unset. Anywhere else
(a CI log, a file) nothing but plain lines: each message, and the status every
`plain_every_s` (10 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from loadtest.load.live import LiveStatus, SearchStatus, fmt_figure

PLAIN_EVERY_S = 10.0
STATE_STYLE = {"pass": "green", "fail": "bold red", "-": "dim"}


def _mmss(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60:02d}:{s % 60:02d}"


def live_view(status: LiveStatus, search: SearchStatus | None = None) -> Group:
    """The live status as rich renderables; every line wraps within the console's width."""
    parts: list[Any] = []
    if search is not None:
        parts.append(search_bar(search, status))
    # each figure and each objective one unit: wrapped between units, never inside one
    figures = [Text(f"{_mmss(status.elapsed_s)} / {_mmss(status.total_s)}", style="bold")]
    for label, value, style in _figures(status):
        figures.append(Text.assemble((label, "dim"), (value, style)))
    parts.append(Columns(figures, padding=(0, 2)))
    if status.objectives:
        cells = []
        for o in status.objectives:
            cell = Text(f"{o.name} ")
            cell.append("FAIL" if o.state == "fail" else o.state,
                        style=STATE_STYLE.get(o.state, ""))
            if o.value is not None:
                cell.append(f" {fmt_figure(o.value, o.unit)}")
            cells.append(cell)
        parts.append(Columns(cells, padding=(0, 3)))
    return Group(*parts)


def _figures(s: LiveStatus) -> list[tuple[str, str, str]]:
    if not s.started:
        return [("", "starting", "dim")]
    ratio = s.error_ratio
    out = [("offered ", "closed model" if s.offered is None else f"{s.offered:g} tasks/s", ""),
           ("achieved ", f"{s.achieved or 0.0:.1f} req/s", ""),
           ("p95 ", "-" if s.p95_ms is None else f"{s.p95_ms:.0f} ms", ""),
           ("errors ", "-" if ratio is None else f"{ratio:.2%}",
            "bold red" if ratio else "")]
    if s.cpu_pct is not None:
        out.append(("generator CPU ", f"{s.cpu_pct:.0f}%", "yellow" if s.cpu_pct >= 80 else ""))
    return out


def search_bar(search: SearchStatus, status: LiveStatus | None = None) -> Table:
    """`step 3 of at most 7  ━━━━━━╸━━━━━━  at most 01:40 left`: the bar counts the steps
    done and the share of this one."""
    in_step = 0.0
    if status is not None and status.total_s > 0:
        in_step = min(1.0, status.elapsed_s / status.total_s)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_column(no_wrap=True)
    grid.add_row(Text(f"step {search.step} of at most {search.steps_most}"),
                 ProgressBar(total=float(search.steps_most),
                             completed=search.step - 1 + in_step),
                 Text(f"at most {_mmss(search.left_s(status.elapsed_s if status else 0))} "
                      "left"))
    return grid


class Terminal:
    """Messages and the live status on one stream: on a terminal, a rich view redrawn in place
    (messages above it); elsewhere plain lines, the status every `plain_every_s`."""

    def __init__(self, stream: Any, plain_every_s: float = PLAIN_EVERY_S) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.plain_every_s = plain_every_s
        self.console = Console(file=stream, highlight=False) if self.tty else None
        self._live: Live | None = None
        self._last_plain = float("-inf")
        self._search: SearchStatus | None = None
        self._status: LiveStatus | None = None

    def message(self, text: str) -> None:
        """A line that stays: above the view (which is ended: the next status starts anew)."""
        if self.console is None:
            self.stream.write(text + "\n")
            self.stream.flush()
            return
        self.done()
        self.console.print(text, markup=False, emoji=False)

    def status(self, status: LiveStatus | SearchStatus | str) -> None:
        if isinstance(status, SearchStatus):
            self._search, self._status = status, None
            if self.console is None:
                self._plain(f"capacity {status}", force=True)
            else:
                self._draw(search_bar(status))
            return
        if self.console is None:
            text = str(status)
            if self._search is not None:
                text = f"step {self._search.step}/{self._search.steps_most}  {text}"
            self._plain(text)
            return
        if isinstance(status, str):
            self._draw(Text(status))
            return
        self._status = status
        self._draw(live_view(status, self._search))

    def _draw(self, renderable: Any) -> None:
        assert self.console is not None
        if self._live is None:
            self._live = Live(renderable, console=self.console, auto_refresh=False,
                              redirect_stdout=False, redirect_stderr=False, transient=False)
            self._live.start()
        self._live.update(renderable, refresh=True)

    def _plain(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force:
            if now - self._last_plain < self.plain_every_s:
                return
            self._last_plain = now
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End the view left drawn (its last picture stays)."""
        if self._live is not None:
            self._live.stop()
            self._live = None


def note(stream: Any, text: str) -> None:
    """A line outside a Terminal's life: wrapped to the width on a terminal, plain elsewhere."""
    if getattr(stream, "isatty", lambda: False)():
        Console(file=stream, highlight=False).print(text, markup=False, emoji=False)
    else:
        stream.write(text + "\n")
        stream.flush()


@contextmanager
def terminal(stream: Any) -> Iterator[Terminal]:
    """A Terminal whose view is ended however the block ends."""
    term = Terminal(stream)
    try:
        yield term
    finally:
        term.done()
