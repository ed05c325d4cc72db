"""The CI examples run as pipelines, from their YAML as written: each step's script in order,
in a fresh workspace, with the variables the CI system sets, and the caches and artifacts carried
between pipelines as the YAML declares them. What the CI system itself does (its actions and
its cache, artifact and API services) is played here by small, faithful stand-ins:

GitHub Actions
- `on:` decides whether the workflow runs for a push to a branch or a pull request;
- `${{ }}` expressions (contexts github, vars, secrets, env, steps; success(), always(),
  failure(); ==, !=, &&, ||, !) are evaluated in `env:`, `if:`, `with:` and `run:`;
- `run:` steps run as `bash -e` with the workflow's, job's and step's env and GITHUB_*;
  a step is skipped unless its `if:` (default success()) holds; continue-on-error;
- actions/cache/restore and /save: keys are immutable; a run reads the caches of its own ref,
  then (pull request) of its base branch, then of the default branch: exact key first, then the
  newest entry matching each restore-key prefix;
- marocchino/sticky-pull-request-comment: one comment per pull request and header, created or
  replaced (needs `pull-requests: write`);
- actions/upload-artifact, mikepenz/action-junit-report: the files are taken (the JUnit file
  parsed); actions/checkout copies the files the gate reads; actions/setup-python is this
  machine's Python.

GitLab CI
- `workflow: rules` and the job's `rules` (first match; its `variables`), rule expressions
  ($VAR, ==, !=, &&, ||, parentheses);
- variables: predefined (CI_*), global, job, rules, then the project's CI/CD variables (the
  highest precedence), `$VAR` references expanded;
- before_script and script in one `bash` with `set -eo pipefail`; after_script in a shell of
  its own, always, with CI_JOB_STATUS, its failure ignored;
- cache: key with `-protected` / `-non_protected` appended (GitLab's default: protected and
  unprotected refs do not share caches) unless `unprotect: true`; `policy` (variables
  expanded), `when`;
- artifacts: `when`, `paths`, `reports:` (junit parsed, load_performance read as JSON),
  `expose_as` paths present;
- the job artifacts API (`/projects/:id/jobs/artifacts/:ref/raw/*path?job=NAME`) with
  JOB-TOKEN: a file from the job's artifacts in the latest successful pipeline of the ref.

Not executed: the install lines (`apt-get install`, `pip install .`). This machine already has
Prometheus and the harness (the venv), and a test must not reinstall the shared venv; shims on
PATH record the commands instead, and the test checks they were asked for.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT

VENV_BIN = Path(sys.executable).parent  # the venv running the tests (make test: .venv)
CHECKOUT = ("scenarios", "slo", "pyproject.toml")  # the files the gate reads from the repo
STEP_TIMEOUT = 120


def shims(where: Path) -> Path:
    """`sudo`, `apt-get` and `pip` for the install lines: recorded in installs.log, not run;
    `python -m venv DIR` is recorded and makes DIR/bin with a recording `pip` and this
    machine's `loadtest` and `python` (what the install into it would give); any other
    `python` is this venv's."""
    where.mkdir(parents=True, exist_ok=True)
    log = where / "installs.log"
    venv = (f'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
            f'  echo "python $*" >> {log}; mkdir -p "$3/bin"\n'
            f'  printf \'#!/bin/sh\\necho "pip $*" >> {log}\\n\' > "$3/bin/pip"\n'
            f'  chmod +x "$3/bin/pip"\n'
            f'  ln -sf {VENV_BIN}/loadtest {VENV_BIN}/python "$3/bin/"; exit 0\n'
            f'fi\nexec {VENV_BIN}/python "$@"')
    for name, body in (("sudo", 'exec "$@"'),
                       ("apt-get", f'echo "apt-get $*" >> {log}'),
                       ("pip", f'echo "pip $*" >> {log}'),
                       ("python", venv)):
        path = where / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return where


def base_env(shim_dir: Path, workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOADTEST_", "GITHUB_", "CI_", "GITLAB_"))}
    env["PATH"] = f"{shim_dir}:{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env["CI"] = "true"
    env["HOME"] = str(workspace.parent / "home")
    Path(env["HOME"]).mkdir(exist_ok=True)
    return env


def checkout(workspace: Path) -> None:
    workspace.mkdir(parents=True)
    for name in CHECKOUT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, workspace / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, workspace / name)


def bash(script: str, env: dict[str, str], cwd: Path, *flags: str) -> tuple[int, str]:
    p = subprocess.run(["bash", "--noprofile", "--norc", *flags, "-c", script], env=env,
                       cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT,
                       check=False)
    return p.returncode, p.stdout + p.stderr


def copy_paths(paths: list[str], src: Path, dst: Path) -> list[str]:
    """Copy each path (file or folder) that exists from src to dst; returns those copied."""
    done = []
    for rel in paths:
        rel = rel.rstrip("/")
        s = src / rel
        if not s.exists():
            continue
        d = dst / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(s, d)
        done.append(rel)
    return done


# -- GitHub Actions ---------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|,|'(?:[^']|'')*'|[A-Za-z_][\w.\-]*|\d+(?:\.\d+)?)")


class _Expr:
    """GitHub's expression language, the subset the example uses."""

    def __init__(self, text: str, ctx: dict[str, Any]) -> None:
        self.tokens = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise ValueError(f"expression {text!r}: cannot read at {text[pos:]!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i, self.ctx = 0, ctx

    def value(self) -> Any:
        v = self._or()
        if self.i != len(self.tokens):
            raise ValueError(f"expression: unexpected {self.tokens[self.i:]}")
        return v

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> str:
        self.i += 1
        return self.tokens[self.i - 1]

    def _or(self) -> Any:
        v = self._and()
        while self._peek() == "||":
            self._take()
            w = self._and()
            v = v or w
        return v

    def _and(self) -> Any:
        v = self._cmp()
        while self._peek() == "&&":
            self._take()
            w = self._cmp()
            v = v and w
        return v

    def _cmp(self) -> Any:
        v = self._unary()
        while self._peek() in ("==", "!="):
            op, w = self._take(), self._unary()
            eq = str(v).lower() == str(w).lower() if isinstance(v, str) and isinstance(w, str) \
                else v == w
            v = eq if op == "==" else not eq
        return v

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not self._unary()
        if self._peek() == "(":
            self._take()
            v = self._or()
            assert self._take() == ")"
            return v
        tok = self._take()
        if tok.startswith("'"):
            return tok[1:-1].replace("''", "'")
        if re.fullmatch(r"\d+(\.\d+)?", tok):
            return float(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "null":
            return None
        if self._peek() == "(":
            self._take()
            args = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take()
            self._take()
            return self.ctx["functions"][tok](*args)
        value: Any = self.ctx
        for part in tok.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else value


def gh_eval(text: str, ctx: dict[str, Any]) -> Any:
    return _Expr(text, ctx).value()


def gh_subst(text: Any, ctx: dict[str, Any]) -> Any:
    if not isinstance(text, str):
        return text
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(gh_eval(m.group(1), ctx)), text)


@dataclass
class GitHubRepo:
    """The repository's state across workflow runs: caches, comments, artifacts."""
    default_branch: str = "main"
    vars: dict[str, str] = field(default_factory=dict)
    caches: list[dict[str, Any]] = field(default_factory=list)   # key, ref, dir
    comments: dict[int, list[str]] = field(default_factory=dict)  # PR number -> bodies
    runs: int = 0


@dataclass
class Job:
    """What one pipeline/workflow run left: status, each step's outcome and log, files."""
    status: str
    steps: list[dict[str, Any]]
    workspace: Path
    summary: str = ""
    artifacts: dict[str, Path] = field(default_factory=dict)
    junit: list[ET.Element] = field(default_factory=list)
    installs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return "\n".join(f"--- {s['name']}: {s['outcome']}\n{s.get('log', '')}"
                         for s in self.steps)


def run_github(workflow: Path, repo: GitHubRepo, tmp: Path, *, event: str, branch: str,
               pr: int | None = None, extra_env: dict[str, str] | None = None) -> Job:
    """One run of the workflow's single job for a push to `branch` or a pull request `pr`
    from `branch` into the default branch."""
    doc = yaml.safe_load(workflow.read_text())
    on = doc.get("on", doc.get(True))
    assert event in on, f"{workflow}: not triggered by {event}"
    if event == "push":
        assert branch in ((on["push"] or {}).get("branches") or [branch])
    repo.runs += 1
    run_id = str(1000 + repo.runs)
    root = tmp / f"gh-{run_id}"
    ws = root / "workspace"
    shim_dir = shims(root / "shims")
    ref = f"refs/pull/{pr}/merge" if event == "pull_request" else f"refs/heads/{branch}"
    github: dict[str, Any] = {
        "ref": ref, "ref_name": f"{pr}/merge" if pr else branch, "event_name": event,
        "run_id": run_id, "run_attempt": "1", "server_url": "https://github.example",
        "repository": "opscore/service", "sha": f"{int(run_id):040x}",
        "base_ref": repo.default_branch if pr else "", "head_ref": branch if pr else "",
        "event": {"pull_request": {"number": pr}} if pr else {}}
    steps_ctx: dict[str, Any] = {}
    state = {"failed": False}
    functions = {"success": lambda: not state["failed"], "always": lambda: True,
                 "failure": lambda: state["failed"], "cancelled": lambda: False}
    ctx: dict[str, Any] = {"github": github, "vars": dict(repo.vars), "secrets": {},
                           "steps": steps_ctx, "env": {}, "functions": functions}
    summary = root / "step_summary.md"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.touch()
    env = base_env(shim_dir, ws)
    env.update({"GITHUB_ACTIONS": "true", "GITHUB_REF": ref,
                "GITHUB_REF_NAME": github["ref_name"], "GITHUB_EVENT_NAME": event,
                "GITHUB_RUN_ID": run_id, "GITHUB_SHA": github["sha"],
                "GITHUB_BASE_REF": github["base_ref"], "GITHUB_HEAD_REF": github["head_ref"],
                "GITHUB_REPOSITORY": github["repository"], "GITHUB_WORKSPACE": str(ws),
                "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(root)})
    for k, v in (doc.get("env") or {}).items():
        env[k] = str(gh_subst(v, ctx))
    [(_name, job)] = doc["jobs"].items()
    for k, v in (job.get("env") or {}).items():
        env[k] = str(gh_subst(v, ctx))
    env.update(extra_env or {})
    ctx["env"] = env
    permissions = {**(doc.get("permissions") or {}), **(job.get("permissions") or {})}
    result = Job(status="success", steps=[], workspace=ws, env=env)
    for n, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {n}"
        cond = str(step.get("if", "success()")).strip()
        cond = cond[3:-2] if cond.startswith("${{") else cond
        if not re.search(r"\b(success|always|failure|cancelled)\(", cond):
            cond = f"success() && ({cond})"  # GitHub's implicit status check
        if not gh_eval(cond, ctx):
            result.steps.append({"name": name, "outcome": "skipped"})
            if step.get("id"):
                steps_ctx[step["id"]] = {"outcome": "skipped", "conclusion": "skipped"}
            continue
        step_env = dict(env)
        for k, v in (step.get("env") or {}).items():
            step_env[k] = str(gh_subst(v, ctx))
        with_ = {k: gh_subst(v, ctx) for k, v in (step.get("with") or {}).items()}
        if "run" in step:
            code, log = bash(gh_subst(step["run"], ctx), step_env, ws, "-e")
        else:
            code, log = _gh_action(step["uses"], with_, repo, ws, github, permissions, result)
        outcome = "success" if code == 0 else "failure"
        ok = outcome == "success" or bool(step.get("continue-on-error"))
        if not ok:
            state["failed"] = True
        result.steps.append({"name": name, "outcome": outcome, "log": log})
        if step.get("id"):
            steps_ctx[step["id"]] = {"outcome": outcome,
                                     "conclusion": "success" if ok else "failure"}
    result.status = "failure" if state["failed"] else "success"
    result.summary = summary.read_text()
    result.installs = _installs(shim_dir)
    return result


def _installs(shim_dir: Path) -> list[str]:
    log = shim_dir / "installs.log"
    return log.read_text().splitlines() if log.exists() else []


def _lines(value: Any) -> list[str]:
    return [p.strip() for p in str(value).splitlines() if p.strip()]


def _gh_action(uses: str, with_: dict[str, Any], repo: GitHubRepo, ws: Path,
               github: dict[str, Any], permissions: dict[str, Any], job: Job
               ) -> tuple[int, str]:
    action = uses.split("@")[0]
    if action == "actions/checkout":
        checkout(ws)
        return 0, "checked out"
    if action == "actions/setup-python":
        return 0, f"python {with_.get('python-version')}: this machine's venv"
    if action == "actions/cache/restore":
        scopes = [github["ref"]]
        if github["base_ref"]:
            scopes.append(f"refs/heads/{github['base_ref']}")
        scopes.append(f"refs/heads/{repo.default_branch}")
        key, prefixes = with_["key"], _lines(with_.get("restore-keys", ""))
        for scope in dict.fromkeys(scopes):
            mine = [c for c in repo.caches if c["ref"] == scope]
            hit = next((c for c in mine if c["key"] == key), None)
            for prefix in prefixes:
                if hit is None:
                    hit = next((c for c in reversed(mine) if c["key"].startswith(prefix)),
                               None)
            if hit is not None:
                copy_paths(_lines(with_["path"]), hit["dir"], ws)
                return 0, f"restored {hit['key']} (saved on {hit['ref']})"
        return 0, "cache not found"
    if action == "actions/cache/save":
        key = with_["key"]
        if any(c["key"] == key and c["ref"] == github["ref"] for c in repo.caches):
            return 0, f"warning: cache {key} already exists"  # keys are immutable
        store = ws.parent / f"cache-{len(repo.caches)}"
        store.mkdir()
        saved = copy_paths(_lines(with_["path"]), ws, store)
        repo.caches.append({"key": key, "ref": github["ref"], "dir": store})
        return 0, f"saved {key}: {saved}"
    if action == "actions/upload-artifact":
        path = ws / str(with_["path"])
        if not path.exists():
            return 0, "warning: no files found"
        job.artifacts[str(with_["name"])] = path
        return 0, f"uploaded {path}"
    if action == "mikepenz/action-junit-report":
        path = ws / str(with_["report_paths"])
        if not path.is_file():
            return 0, f"warning: no test results in {path}"
        job.junit.append(ET.parse(path).getroot())
        return 0, f"junit {path}"
    if action == "marocchino/sticky-pull-request-comment":
        if permissions.get("pull-requests") != "write":
            return 1, "Resource not accessible by integration (pull-requests: write)"
        pr = github["event"]["pull_request"]["number"]
        marker = f"<!-- Sticky Pull Request Comment{with_.get('header', '')} -->"
        body = (ws / str(with_["path"])).read_text() + "\n" + marker
        comments = repo.comments.setdefault(pr, [])
        old = [i for i, c in enumerate(comments) if c.endswith(marker)]
        if old:
            comments[old[0]] = body
        else:
            comments.append(body)
        return 0, f"comment on #{pr}"
    raise AssertionError(f"the example uses {uses}, which this simulation does not know")


# -- GitLab CI --------------------------------------------------------------------------------
_GL_TOKEN = re.compile(r'\s*(\|\||&&|==|!=|\(|\)|"[^"]*"|\'[^\']*\'|\$\{?\w+\}?|null)')


def gl_rule(expr: str, variables: dict[str, str]) -> bool:
    """A GitLab `rules: if:` expression: $VAR, "string", ==, !=, &&, ||, parentheses."""
    tokens, pos = [], 0
    while pos < len(expr.strip()):
        m = _GL_TOKEN.match(expr.strip(), pos)
        if not m:
            raise ValueError(f"rules:if {expr!r}: cannot read at {expr[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
    i = 0

    def atom() -> Any:
        nonlocal i
        tok = tokens[i]
        i += 1
        if tok == "(":
            v = disj()
            i += 1
            return v
        if tok.startswith("$"):
            return variables.get(tok.strip("${}")) or None
        if tok == "null":
            return None
        return tok[1:-1]

    def cmp() -> Any:
        nonlocal i
        left = atom()
        if i < len(tokens) and tokens[i] in ("==", "!="):
            op = tokens[i]
            i += 1
            right = atom()
            return (left == right) if op == "==" else (left != right)
        return bool(left)

    def conj() -> Any:
        nonlocal i
        v = cmp()
        while i < len(tokens) and tokens[i] == "&&":
            i += 1
            w = cmp()
            v = v and w
        return v

    def disj() -> Any:
        nonlocal i
        v = conj()
        while i < len(tokens) and tokens[i] == "||":
            i += 1
            w = conj()
            v = v or w
        return v

    return bool(disj())


def gl_expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), ""), str(value))


@dataclass
class GitLabProject:
    """The project's state across pipelines: caches (by key), pipelines with their artifacts,
    protected branches, CI/CD variables; serves the job artifacts API on 127.0.0.1."""
    default_branch: str = "main"
    protected: tuple[str, ...] = ("main",)
    variables: dict[str, str] = field(default_factory=dict)
    caches: dict[str, Path] = field(default_factory=dict)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    api_calls: list[tuple[str, int]] = field(default_factory=list)
    api_url: str = ""

    def artifact_file(self, ref: str, job: str, path: str) -> bytes | None:
        for p in reversed(self.pipelines):
            if p["ref"] == ref and p["status"] == "success":
                root = p["artifacts"].get(job)
                f = root / path if root is not None else None
                return f.read_bytes() if f is not None and f.is_file() else None
        return None


@contextmanager
def gitlab_api(project: GitLabProject) -> Iterator[GitLabProject]:
    """GET /api/v4/projects/1/jobs/artifacts/:ref/raw/*path?job=NAME with a running job's
    JOB-TOKEN (or a PRIVATE-TOKEN), as GitLab answers it."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            m = re.fullmatch(r"/api/v4/projects/1/jobs/artifacts/([^/]+)/raw/(.+)", url.path)
            job = urllib.parse.parse_qs(url.query).get("job", [""])[0]
            token = self.headers.get("JOB-TOKEN")
            body = None
            if token not in project.tokens:
                code = 401
            elif m is None:
                code = 404
            else:
                body = project.artifact_file(urllib.parse.unquote(m.group(1)), job,
                                             urllib.parse.unquote(m.group(2)))
                code = 200 if body is not None else 404
            project.api_calls.append((self.path, code))
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body if body is not None else b'{"message":"404 Not found"}')

        def log_message(self, *_a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    project.api_url = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    try:
        yield project
    finally:
        server.shutdown()
        server.server_close()


def run_gitlab(ci_file: Path, project: GitLabProject, tmp: Path, *, source: str,
               branch: str, mr_iid: int | None = None,
               extra_variables: dict[str, str] | None = None) -> dict[str, Job]:
    """One pipeline: `source` push (a branch) or merge_request_event (an MR from `branch`
    into the default branch). Returns its jobs by name (none when workflow rules say no)."""
    doc = yaml.safe_load(ci_file.read_text())
    n = len(project.pipelines) + 1
    mr = source == "merge_request_event"
    predefined = {
        "CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_SOURCE": source,
        "CI_PIPELINE_ID": str(500 + n), "CI_DEFAULT_BRANCH": project.default_branch,
        "CI_COMMIT_REF_NAME": branch, "CI_COMMIT_REF_SLUG": re.sub(r"\W", "-", branch),
        "CI_COMMIT_SHA": f"{n:040x}", "CI_PROJECT_ID": "1", "CI_API_V4_URL": project.api_url,
        "CI_COMMIT_REF_PROTECTED": "true" if branch in project.protected else "false"}
    if mr:
        predefined.update({"CI_MERGE_REQUEST_IID": str(mr_iid),
                           "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch,
                           "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": project.default_branch})
    else:
        predefined["CI_COMMIT_BRANCH"] = branch
    pipeline: dict[str, Any] = {"ref": branch, "status": "skipped", "artifacts": {},
                                "jobs": {}}
    project.pipelines.append(pipeline)
    project_vars = {**project.variables, **(extra_variables or {})}
    workflow_rules = (doc.get("workflow") or {}).get("rules")
    if workflow_rules is not None and not any(  # no workflow rules: every pipeline runs
            gl_rule(r["if"], {**predefined, **project_vars}) for r in workflow_rules):
        return {}
    global_vars = {k: str(v) for k, v in (doc.get("variables") or {}).items()}
    reserved = {"workflow", "variables", "stages", "default", "include", "image", "cache"}
    jobs: dict[str, Job] = {}
    for name, spec in doc.items():
        if name in reserved or name.startswith(".") or not isinstance(spec, dict):
            continue
        variables = {**predefined, **global_vars,
                     **{k: str(v) for k, v in (spec.get("variables") or {}).items()}}
        rule = next((r for r in spec.get("rules", [{}])
                     if "if" not in r or gl_rule(r["if"], {**variables, **project_vars})),
                    None)
        if rule is None or rule.get("when") == "never":
            continue
        variables.update({k: str(v) for k, v in (rule.get("variables") or {}).items()})
        variables.update(project_vars)
        jobs[name] = _gitlab_job(name, spec, variables, project, pipeline, tmp / f"gl-{n}")
    pipeline["status"] = "success" if all(j.status == "success" for j in jobs.values()) \
        else "failed"
    return jobs


def _gitlab_job(name: str, spec: dict[str, Any], variables: dict[str, str],
                project: GitLabProject, pipeline: dict[str, Any], root: Path) -> Job:
    ws = root / name / "build"
    checkout(ws)
    shim_dir = shims(root / name / "shims")
    token = f"job-token-{len(project.pipelines)}-{name}"
    project.tokens.add(token)
    variables = {**variables, "CI_JOB_NAME": name, "CI_JOB_TOKEN": token,
                 "CI_PROJECT_DIR": str(ws),
                 "CI_JOB_URL": f"https://gitlab.example/opscore/service/-/jobs/{id(ws)}"}
    variables = {k: gl_expand(v, variables) for k, v in variables.items()}
    env = {**base_env(shim_dir, ws), **variables}
    cache = spec.get("cache") or {}
    key = policy = None
    if cache:
        key = gl_expand(cache["key"], variables)
        if not cache.get("unprotect"):
            key += "-protected" if variables["CI_COMMIT_REF_PROTECTED"] == "true" \
                else "-non_protected"
        policy = gl_expand(cache.get("policy", "pull-push"), variables)
        assert policy in ("pull", "push", "pull-push"), f"cache:policy {policy!r}"
    steps = []
    if key and policy in ("pull", "pull-push") and key in project.caches:
        copy_paths(cache["paths"], project.caches[key], ws)
        steps.append({"name": "cache restore", "outcome": "success", "log": key})
    script = "\n".join([*spec.get("before_script", []), *spec["script"]])
    code, log = bash(script, env, ws, "-eo", "pipefail")
    status = "success" if code == 0 else "failed"
    steps.append({"name": "script", "outcome": status, "log": log})
    code, log = bash("\n".join(spec.get("after_script", [])),
                     {**env, "CI_JOB_STATUS": status}, ws, "-eo", "pipefail")
    steps.append({"name": "after_script", "outcome": "success" if code == 0 else "failed",
                  "log": log})
    when = cache.get("when", "on_success")
    if key and policy in ("push", "pull-push") and \
            (when == "always" or (when == "on_success") == (status == "success")):
        store = root / name / f"cache-{key}"
        if store.exists():
            shutil.rmtree(store)
        store.mkdir(parents=True)
        copy_paths(cache["paths"], ws, store)
        project.caches[key] = store
        steps.append({"name": "cache save", "outcome": "success", "log": key})
    job = Job(status=status, steps=steps, workspace=ws, env=env,
              installs=_installs(shim_dir))
    artifacts = spec.get("artifacts") or {}
    a_when = artifacts.get("when", "on_success")
    if a_when == "always" or (a_when == "on_success") == (status == "success"):
        store = root / name / "artifacts"
        store.mkdir(parents=True)
        copy_paths(artifacts.get("paths", []), ws, store)
        pipeline["artifacts"][name] = store
        # a report file missing is a warning in GitLab: here, no entry
        job.artifacts = {kind: store / str(path) for kind, path in
                         (artifacts.get("reports") or {}).items()
                         if (store / str(path)).is_file()}
        if "junit" in job.artifacts:
            job.junit.append(ET.parse(job.artifacts["junit"]).getroot())
        if "load_performance" in job.artifacts:
            json.loads(job.artifacts["load_performance"].read_text())
        if artifacts.get("expose_as"):
            for path in artifacts["paths"]:
                assert (store / path).exists(), f"expose_as: {path} is not in the artifacts"
    pipeline["jobs"][name] = job
    return job
