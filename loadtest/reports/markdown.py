"""summary.md: the short verdict for CI pages (and $GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from loadtest.reports.view import build_view
from loadtest.store.records import ResultsRecord


def _load_line(rows: list[tuple[str, str]]) -> list[str]:
    """The load's figures with their units, one line (none when nothing was measured)."""
    figures = [f"{label}: {_cell(value)}" for label, value in rows[1:] if label != "user pool"]
    return ["; ".join(figures) + ".", ""] if figures else []


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def render_markdown(results: ResultsRecord) -> str:
    v = build_view(results, with_charts=False)
    run = v["run"]
    verdict = v["verdict"]
    code = verdict.get("exit_code") if verdict else None
    lines = [f"## loadtest: {v['verdict_label']} (exit {code})", "",
             _cell(verdict.get("reason", "") if verdict else ""), ""]
    ver = v["verification"]
    if ver:
        lines += [(f"Re-judged run `{_cell(str(ver['of_run']))}` with "
                   f"`{_cell(ver['slo_file'])}` (sha256 {ver['slo_sha256']}) from "
                   f"{_cell(ver['source_text'])}; the run's own verdict: "
                   f"**{ver['original_label']}** (exit {ver['original_exit_code']}): "
                   f"{_cell(ver['original_reason'])}"), ""]
    if v["aborted"]:
        a = v["aborted"]
        lines += [(f"Aborted at {_cell(str(a['at_iso']))}: `{_cell(str(a['objective']))}` "
                   f"failed for its whole abort_after ({a['abort_after_s']} s), last live "
                   f"figure {_cell(a['value'])} against {_cell(a['threshold'])}; judged over "
                   "what ran."), ""]
    lines += [(f"Run `{run.get('id')}`: {v['requested_rate']} requested, "
               f"{v['achieved_rate']} achieved; metrics from {_cell(v['source_text'])}."), "",
              *_load_line(v["load_rows"]),
              *([f"Sequential: {_cell(v['settle'])}.", ""] if v.get("settle") else []),
              "| objective | status | value | threshold | samples |",
              "| --- | --- | ---: | --- | ---: |"]
    for o in v["objectives"]:
        lines.append(f"| {_cell(o['name'])} | {o['status_label']} | {_cell(o['value'])} | "
                     f"{_cell(o['threshold'])} | {o['samples']} |")
    if v["regressions"]:
        base = v["comparison"].get("baseline")
        lines += ["", f"Against baseline `{_cell(str(base))}`:" if base else
                  "Against the baseline:", "",
                  "| objective | status | baseline | run | change | CI | tolerance | "
                  "detectable |",
                  "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
        for r in v["regressions"]:
            lines.append(f"| {_cell(r['objective'])} | {r['status_label']} | {r['base']} | "
                         f"{r['run']} | {r['change']} | {r['ci']} | {r['tolerance']} | "
                         f"{r['detectable']}{' (underpowered)' if r['underpowered'] else ''} |")
    notes = [f"- problem: {_cell(p)}" for p in v["problems"]]
    notes += [f"- warning: {_cell(w)}" for w in v["warnings"]]
    if notes:
        lines += [""] + notes
    url = run.get("report_url")
    lines += ["", f"[Full report]({_cell(str(url))})" if url else
              "Full report: `index.html` in the run directory."]
    return "\n".join(lines) + "\n"
