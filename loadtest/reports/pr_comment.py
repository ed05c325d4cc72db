"""pr-comment.md: the body of one pull/merge-request comment: the verdict, the objectives, the
comparison with the baseline (change, interval, detectable change), drift warnings and the
report's link. It opens with a hidden marker, so a CI step finds its own earlier comment and
updates it instead of adding one per push."""

from __future__ import annotations

from loadtest.reports.markdown import _cell
from loadtest.reports.view import build_view
from loadtest.store.records import ResultsRecord, RunMeta

MARKER = "<!-- loadtest:pr-comment -->"
FILENAME = "pr-comment.md"


def _report_link(results: ResultsRecord) -> str:
    run = results.get("run") or RunMeta()
    url = run.get("report_url")
    if url:
        return f"[Full report]({_cell(str(url))})"
    return f"Full report: `index.html` in the run directory `{_cell(str(run.get('id')))}`."


def render_pr_comment(results: ResultsRecord) -> str:
    v = build_view(results, with_charts=False)
    verdict = v["verdict"]
    run = results.get("run") or RunMeta()
    rev = str(run.get("git_revision") or "")[:10]
    code = verdict.get("exit_code") if verdict else None
    lines = [MARKER,
             f"### Performance gate: {v['verdict_label']} (exit {code})",
             "", _cell(verdict.get("reason", "") if verdict else ""), "",
             (f"Run `{_cell(str(run.get('id')))}`" + (f" at `{rev}`" if rev else "")
              + f": {v['requested_rate']} requested, {v['achieved_rate']} achieved."), "",
             "| objective | status | value | threshold |", "| --- | --- | ---: | --- |"]
    lines += [f"| {_cell(o['name'])} | {o['status_label']} | {_cell(o['value'])} | "
              f"{_cell(o['threshold'])} |" for o in v["objectives"]]
    lines.append("")
    base = v["comparison"].get("baseline") or run.get("baseline")
    if v["regressions"]:
        lines += [f"Against the baseline `{_cell(str(base))}`:" if base else
                  "Against the baseline:", "",
                  ("| objective | status | baseline | this run | change | 95% interval | "
                   "tolerance | detectable change |"),
                  "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
        lines += [f"| {_cell(r['objective'])} | {r['status_label']} | {r['base']} | {r['run']} "
                  f"| {r['change']} | {r['ci']} | {r['tolerance']} | {r['detectable']}"
                  f"{' (underpowered)' if r['underpowered'] else ''} |"
                  for r in v["regressions"]]
    else:
        lines.append("No baseline compared (none promoted yet on the default branch, or none "
                     "given).")
    drift = [w for w in v["warnings"] if w.startswith("drift: ")]
    if drift or v["problems"]:
        lines.append("")
        lines += [f"- :warning: {_cell(w)}" for w in drift]
        lines += [f"- problem: {_cell(p)}" for p in v["problems"]]
    lines += ["", _report_link(results)]
    return "\n".join(lines) + "\n"
