"""Reports rendered from results.json (plain data), one output format per module:

    view.py      results -> plain dict for templates (formatting, no I/O)
    charts.py    inline SVG line charts from plain series
    html.py      index.html (jinja2, autoescape on, self-contained)
    junit.py     junit.xml (one test case per objective)
    markdown.py  summary.md (and $GITHUB_STEP_SUMMARY)
    grafana.py   grafana-annotation.json (the judged window; written at the end of a run)
    load_performance.py  load-performance.json (GitLab's load-performance widget: k6's format)
    pr_comment.py        pr-comment.md (one pull/merge-request comment)
"""

from __future__ import annotations

import os
from pathlib import Path

from loadtest.reports.capacity import (
    render_capacity_html,
    render_capacity_junit,
    render_capacity_markdown,
)
from loadtest.reports.html import render_html
from loadtest.reports.junit import render_junit
from loadtest.reports.load_performance import render_load_performance
from loadtest.reports.markdown import render_markdown
from loadtest.reports.pr_comment import render_pr_comment
from loadtest.store.records import ResultsRecord
from loadtest.store.results import write_text_atomic


def render_all(results: ResultsRecord, run_dir: Path, step_summary: bool = True) -> list[Path]:
    """Write index.html, junit.xml and summary.md (and for a run, load-performance.json and
    pr-comment.md) into run_dir; the summary is also appended to
    $GITHUB_STEP_SUMMARY unless step_summary is False (`loadtest report`, a re-render of a
    run whose summary was appended when it ran)."""
    outputs: tuple[tuple[str, str], ...]
    if results.get("kind") == "capacity":
        outputs = (("index.html", render_capacity_html(results)),
                   ("junit.xml", render_capacity_junit(results)),
                   ("summary.md", render_capacity_markdown(results)))
    else:
        outputs = (("index.html", render_html(results)),
                   ("junit.xml", render_junit(results)),
                   ("summary.md", render_markdown(results)),
                   ("load-performance.json", render_load_performance(results)),
                   ("pr-comment.md", render_pr_comment(results)))
    written = []
    for name, text in outputs:
        path = run_dir / name
        write_text_atomic(path, text)
        written.append(path)
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY") if step_summary else None
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as f:
            f.write(outputs[2][1] + "\n")
    return written
