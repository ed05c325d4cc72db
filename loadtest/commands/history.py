"""`loadtest history`: the series of each key figure over the runs of one load, with the
change points found in it (as text, or JSON), and optionally the page of the series."""

from __future__ import annotations

from pathlib import Path

from loadtest.commands.compare import json_text
from loadtest.errors import UsageError
from loadtest.regression.history import Detector, format_text, history_report
from loadtest.store.results import write_text_atomic


def history(sources: list[Path], metric: str | None, since: str | None, tags: list[str],
            detector: Detector, option: str, html: Path | None, as_json: bool) -> list[str]:
    """The lines to print: the analysis (text or JSON), then the page written (--html)."""
    analysis = history_report(sources, metric, since, tags, detector, option=option)
    if html is not None:
        from loadtest.reports.history import render_history_html  # jinja2: only for a page

        try:
            write_text_atomic(html, render_history_html(analysis))
        except OSError as e:
            raise UsageError(f"--html {html}: cannot write there ({e.strerror})") from None
    if as_json:
        return [json_text(analysis)]
    return [format_text(analysis)] + ([str(html)] if html is not None else [])
