"""index.html: results -> view dict -> jinja2 template (autoescape on). Self-contained."""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from loadtest.reports.view import build_view
from loadtest.store.records import ResultsRecord


def render_html(results: ResultsRecord) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("loadtest.reports", "templates"),
        autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True,
        lstrip_blocks=True)
    view = build_view(results)
    # chart SVGs are built by charts.py, which escapes every text it places
    view["charts"] = [Markup(svg) for svg in view["charts"]]
    return env.get_template("index.html.j2").render(**view)
