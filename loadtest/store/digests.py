"""What a verdict was computed from, recorded so it can be checked later: the SLO file's text
and digest, and a digest of each raw-sample file (the load generator's per-request samples,
the harness's own scrapes). `loadtest verify` warns when those files changed since."""

from __future__ import annotations

import hashlib
from pathlib import Path

from loadtest.store.records import SloDigest

SAMPLE_GLOBS = ("locust/samples-*.csv", "metrics/*.jsonl.gz",  # a run, the plugin
                "steps/*/locust/samples-*.csv")                 # a capacity search
MAX_SLO_TEXT = 256 * 1024  # the SLO file is small; a huge one is recorded by digest only


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def slo_record(path: Path, text: str | None = None) -> SloDigest:
    """The SLO file as it was judged: path, sha256 of its bytes, and its text."""
    data = text.encode("utf-8") if text is not None else path.read_bytes()
    out = SloDigest(path=str(path), sha256=hashlib.sha256(data).hexdigest())
    if len(data) <= MAX_SLO_TEXT:
        out["text"] = data.decode("utf-8", errors="replace")
    return out


def sample_digests(run_dir: Path) -> dict[str, str]:
    """{path relative to the run directory: sha256} of every raw-sample file."""
    files = sorted({p for g in SAMPLE_GLOBS for p in run_dir.glob(g) if p.is_file()})
    return {p.relative_to(run_dir).as_posix(): sha256_file(p) for p in files}


def changed_samples(run_dir: Path, recorded: dict[str, str] | None) -> list[str]:
    """One warning per raw-sample file that no longer matches its recorded digest (edited,
    missing, or added since the run)."""
    if recorded is None:
        return [("the run recorded no digests of its samples: whether they changed since "
                 "cannot be told")]
    now = sample_digests(run_dir)
    out = []
    for name, digest in sorted(recorded.items()):
        if name not in now:
            out.append(f"{name} is missing: the figures from it cannot be reproduced")
        elif now[name] != digest:
            out.append(f"{name} changed since the run (sha256 {now[name][:12]}, recorded "
                       f"{digest[:12]}): this judgement is not of the samples the run had")
    for name in sorted(set(now) - set(recorded)):
        out.append(f"{name} was added after the run: this judgement includes samples the run "
                   "did not have")
    return out
