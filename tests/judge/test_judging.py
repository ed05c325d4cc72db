"""Histogram math, the embedded source's counter semantics, and objective judging, on made-up
scrapes fed to the real EmbeddedSource (no Prometheus, no mocks)."""

from __future__ import annotations

import pytest

from loadtest.judge.objectives import evaluate
from loadtest.judge.verdict import decide
from loadtest.metrics.base import Matcher, Window
from loadtest.metrics.embedded import EmbeddedSource
from loadtest.metrics.exposition import Snapshot, parse_exposition
from loadtest.metrics.histogram import boundary_label, histogram_quantile, quantile_bucket
from loadtest.slo import parse_slo

JOB = (("instance", "t:1"), ("job", "opscore-backend"))


def test_quantile_interpolates_like_prometheus() -> None:
    b = {"0.1": 50.0, "0.5": 90.0, "1.0": 100.0, "+Inf": 100.0}
    assert histogram_quantile(0.5, b) == pytest.approx(0.1)
    # rank 95 lies in (0.5, 1.0]: 0.5 + 0.5 * (95 - 90) / 10
    assert histogram_quantile(0.95, b) == pytest.approx(0.75)
    # rank in the first bucket interpolates from 0
    assert histogram_quantile(0.25, b) == pytest.approx(0.05)


def test_quantile_edge_cases() -> None:
    assert histogram_quantile(0.95, {}) is None
    assert histogram_quantile(0.95, {"1": 0.0, "+Inf": 0.0}) is None
    assert histogram_quantile(0.95, {"1": 5.0, "2": 5.0}) is None  # no +Inf bucket
    # everything above the top finite bound: answer that bound, as Prometheus does
    assert histogram_quantile(0.95, {"1": 0.0, "2": 0.0, "+Inf": 10.0}) == 2.0
    # non-monotonic counts (extrapolation noise) are forced monotonic
    assert histogram_quantile(0.5, {"1": 6.0, "2": 5.9, "+Inf": 10.0}) == pytest.approx(
        histogram_quantile(0.5, {"1": 6.0, "2": 6.0, "+Inf": 10.0}))


def test_the_bucket_a_quantile_is_interpolated_in() -> None:
    b = {"0.1": 50.0, "0.5": 90.0, "1.0": 100.0, "+Inf": 100.0}
    assert quantile_bucket(0.95, b) == (0.5, 1.0)   # histogram_quantile: 0.75, in it
    assert quantile_bucket(0.25, b) == (0.0, 0.1)   # the first bucket, from 0
    assert quantile_bucket(0.95, {"1": 0.0, "2": 0.0, "+Inf": 10.0}) == (2.0, float("inf"))
    assert quantile_bucket(0.95, {"1": 0.0, "+Inf": 0.0}) is None


def test_boundary_label_keeps_the_services_spelling() -> None:
    assert boundary_label({"2.0": 1, "+Inf": 2}, 2.0) == "2.0"   # Python client
    assert boundary_label({"2": 1, "+Inf": 2}, 2.0) == "2"       # Go client
    assert boundary_label({"0.1": 1, "+Inf": 2}, 0.1) == "0.1"
    assert boundary_label({"2.5": 1, "+Inf": 2}, 2.0) is None


def snap(t: float, **series: float) -> Snapshot:
    values = {}
    for key, v in series.items():
        name, _, rest = key.partition("__")
        labels = dict(JOB)
        for part in rest.split("__") if rest else []:
            k, _, val = part.partition("_")
            labels[k] = val.replace("p", ".").replace("Inf", "+Inf") if k == "le" else val
        values[(name, tuple(sorted(labels.items())))] = v
    return Snapshot(t=t, values=values)


def test_increase_survives_counter_resets_and_late_series() -> None:
    src = EmbeddedSource(None, snapshots=[
        snap(100.0, http_requests_total__status_200=10.0),
        snap(101.0, http_requests_total__status_200=20.0),
        snap(102.0, http_requests_total__status_200=5.0),     # the target restarted
        snap(103.0, http_requests_total__status_200=15.0, http_requests_total__status_500=3.0),
    ])
    w = Window(100.0, 103.0)
    assert src.increase("http_requests_total", (), w).value == 10 + 5 + 10 + 3
    assert src.increase("http_requests_total", (Matcher("status", "=~", "5.."),),
                        w).value == 3
    assert src.increase("nope_total", (), w).value is None
    # a window without scrapes near both edges has no data, never zero
    assert src.increase("http_requests_total", (), Window(100.0, 110.0)).value is None


def test_exposition_parses_python_client_output() -> None:
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    reg = CollectorRegistry()
    h = Histogram("x_seconds", "x", ["endpoint"], buckets=(0.1, 2.0), registry=reg)
    h.labels("/a").observe(0.05)
    values = parse_exposition(generate_latest(reg).decode(), {"job": "j"})
    assert values[("x_seconds_bucket", (("endpoint", "/a"), ("job", "j"),
                                        ("le", "2.0")))] == 1.0


SLO = """\
version: 1
selector: {job: opscore-backend}
objectives:
  - {name: p95, kind: latency, quantile: 0.95, threshold: %s, min_samples: 50}
  - {name: rps, kind: throughput, min: 10}
  - {name: errors, kind: error_rate, max: 0.01, min_samples: 50}
  - {name: db, kind: db_latency, quantile: 0.95, threshold: 100ms, min_samples: 50}
"""


def histogram_scrapes(fast: float, slow: float) -> EmbeddedSource:
    """`fast` requests under 1 s and `slow` between 2 and 2.5 s, in a 10 s window."""
    def at(t: float, k: float) -> Snapshot:
        n = fast + slow
        return snap(t, http_request_duration_seconds_bucket__le_1p0=k * fast, http_request_duration_seconds_bucket__le_2p0=k * fast, http_request_duration_seconds_bucket__le_2p5=k * n, http_request_duration_seconds_bucket__le_Inf=k * n, http_requests_total__status_200=k * n, db_query_duration_seconds_bucket__le_0p1=k * n, db_query_duration_seconds_bucket__le_Inf=k * n)
    return EmbeddedSource(None, snapshots=[at(0.0, 0), at(5.0, 0.5), at(10.0, 1)])


def test_latency_judged_exactly_at_a_bucket_boundary() -> None:
    results = {o.name: o for o in evaluate(parse_slo(SLO % "2s", "s"),
                                           histogram_scrapes(940, 60), Window(0.0, 10.0))}
    p95 = results["p95"]
    assert p95.status == "fail" and p95.exact is True
    assert p95.extra["ratio_within_threshold"] == pytest.approx(0.94)
    assert p95.samples == 1000
    assert p95.value is not None and 2.0 < p95.value <= 2.5
    assert results["rps"].status == "pass" and results["rps"].value == pytest.approx(100.0)
    assert results["errors"].status == "pass" and results["errors"].value == 0.0
    assert results["db"].status == "pass"
    ok = {o.name: o for o in evaluate(parse_slo(SLO % "2s", "s"), histogram_scrapes(960, 40),
                                      Window(0.0, 10.0))}
    assert ok["p95"].status == "pass" and ok["p95"].extra["ratio_within_threshold"] == 0.96


def client_samples(response_ms: list[float], endpoint: str = "/api/v1/documents") -> object:
    """The load generator's samples as load_samples() gives them, inside Window(0, 10)."""
    import pandas as pd

    n = len(response_ms)
    return pd.DataFrame({"start": [i * 10 / n for i in range(n)], "method": ["GET"] * n,
                         "name": [endpoint] * n, "response_ms": response_ms,
                         "status": [200] * n})


def test_threshold_inside_a_bucket_is_decided_where_the_histogram_can_tell() -> None:
    # 2.2 s lies in (2, 2.5]: 94% within 2 s, 100% within 2.5 s straddle 95%
    slo = parse_slo(SLO % "2200ms", "s")
    p95 = {o.name: o for o in evaluate(slo, histogram_scrapes(940, 60), Window(0, 10))}["p95"]
    assert p95.status == "no_data" and p95.exact is False
    assert "add a 2.2 s bucket to http_request_duration_seconds" in p95.reason
    assert p95.extra["bucket_bracket"] == [2.0, 2.5]
    assert p95.extra["ratio_within_bracket"] == [pytest.approx(0.94), 1.0]
    # the same histogram with 96% within 2 s: every reading of the bucket passes, exactly
    ok = {o.name: o for o in evaluate(slo, histogram_scrapes(960, 40), Window(0, 10))}["p95"]
    assert ok.status == "pass" and ok.exact is True and ok.decided_by == "histogram"
    # 1.5 s lies in (1, 2]: 94% within 2 s is under 95% whatever lies between: a fail, exactly
    low = {o.name: o for o in evaluate(parse_slo(SLO % "1500ms", "s"),
                                       histogram_scrapes(940, 60), Window(0, 10))}["p95"]
    assert low.status == "fail" and low.exact is True


def test_the_load_generators_samples_decide_what_the_histogram_cannot() -> None:
    slo = parse_slo(SLO % "2200ms", "s")
    fast = client_samples([100.0] * 940 + [2100.0] * 50 + [2400.0] * 10)  # 99% within 2.2 s
    r = {o.name: o for o in evaluate(slo, histogram_scrapes(940, 60), Window(0, 10),
                                     client=fast)}
    assert r["p95"].status == "pass" and r["p95"].decided_by == "client"
    assert "decided by the load generator's samples" in r["p95"].detail
    assert r["p95"].extra["client_ratio_within_threshold"] == pytest.approx(0.99)
    slow = client_samples([100.0] * 940 + [2300.0] * 60)  # 94% within 2.2 s
    r = {o.name: o for o in evaluate(slo, histogram_scrapes(940, 60), Window(0, 10),
                                     client=slow)}
    assert r["p95"].status == "fail" and r["p95"].decided_by == "client"
    # samples of other requests (an endpoint filter that matches none) cannot decide
    filtered = (SLO % "2200ms").replace("min_samples: 50}", "min_samples: 50, "
                                        "endpoint: /api/v1/other}", 1)
    r = {o.name: o for o in evaluate(parse_slo(filtered, "s"), histogram_scrapes(940, 60),
                                     Window(0, 10), client=fast)}
    assert r["p95"].status == "no_data" and r["p95"].extra.get("client_quantile") is None


def test_a_db_threshold_inside_a_bucket_has_no_client_to_decide_it() -> None:
    slo = parse_slo((SLO % "2s").replace("threshold: 100ms", "threshold: 80ms"), "s")
    fast = client_samples([10.0] * 1000)

    def scrapes(k: float) -> Snapshot:  # 90% within 50 ms, all within 100 ms
        return snap(10 * k, db_query_duration_seconds_bucket__le_0p05=900 * k,
                    db_query_duration_seconds_bucket__le_0p1=1000 * k,
                    db_query_duration_seconds_bucket__le_Inf=1000 * k)
    src = EmbeddedSource(None, snapshots=[scrapes(0), scrapes(0.5), scrapes(1)])
    db = {o.name: o for o in evaluate(slo, src, Window(0, 10), client=fast)}["db"]
    assert db.status == "no_data" and "add a 80 ms bucket to db_query_duration_seconds" \
        in db.reason and "between 50 ms and 100 ms" in db.reason


def test_a_server_quantile_above_the_clients_is_called_the_interpolations_error() -> None:
    from loadtest.judge.objectives import interpolation_warnings

    slo = parse_slo(SLO % "2200ms", "s")
    fast = client_samples([100.0] * 940 + [1800.0] * 60)  # client p95 1.8 s
    objs = [o.to_dict() for o in evaluate(slo, histogram_scrapes(940, 60), Window(0, 10),
                                          client=fast)]
    warnings = interpolation_warnings(objs)
    assert len(warnings) == 1 and "p95 2.08 s" in warnings[0] and "1.8 s" in warnings[0]
    assert "between bucket bounds 2 s and 2.5 s" in warnings[0]
    agree = client_samples([100.0] * 940 + [2450.0] * 60)
    objs = [o.to_dict() for o in evaluate(slo, histogram_scrapes(940, 60), Window(0, 10),
                                          client=agree)]
    assert interpolation_warnings(objs) == []


def test_too_few_samples_and_missing_metrics_are_no_data() -> None:
    few = {o.name: o for o in evaluate(parse_slo(SLO % "2s", "s"), histogram_scrapes(30, 0),
                                       Window(0.0, 10.0))}
    assert few["p95"].status == "no_data" and "min_samples 50" in few["p95"].reason
    assert few["errors"].status == "no_data"
    renamed = (SLO % "2s").replace("selector: {job: opscore-backend}",
                                   "selector: {job: opscore-backend}\nmetrics: "
                                   "{http_duration: nope_seconds}")
    r = {o.name: o for o in evaluate(parse_slo(renamed, "s"), histogram_scrapes(940, 60),
                                     Window(0.0, 10.0))}
    assert r["p95"].status == "no_data" and "nope_seconds_bucket" in r["p95"].reason
    verdict = decide([o.to_dict() for o in r.values()], {"problems": []})
    assert verdict["exit_code"] == 3 and verdict["status"] == "inconclusive"


def test_verdict_order() -> None:
    def o(status: str, severity: str = "fail") -> dict[str, object]:
        return {"name": status, "status": status, "severity": severity, "reason": "r"}

    assert decide([o("pass"), o("pass")], {})["exit_code"] == 0
    assert decide([o("pass"), o("fail")], {})["exit_code"] == 1
    assert decide([o("fail"), o("no_data")], {})["exit_code"] == 1
    assert decide([o("pass"), o("no_data")], {})["exit_code"] == 3
    assert decide([o("pass"), o("fail", "warn")], {})["exit_code"] == 0
    assert decide([o("pass")], {"problems": ["generator saturated"]})["exit_code"] == 3
    assert decide([o("fail")], {}, interrupted=True)["exit_code"] == 130
    assert decide([], {})["exit_code"] == 3


def test_recorded_scrapes_are_read_back_beyond_the_in_memory_tail(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import http.server
    import threading

    from loadtest.metrics import embedded

    count = {"n": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            count["n"] += 10
            body = f"# TYPE x_total counter\nx_total {count['n']}\n".encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    old = embedded.IN_MEMORY
    embedded.IN_MEMORY = 3
    try:
        src = EmbeddedSource(f"http://127.0.0.1:{server.server_address[1]}/metrics",
                             record_path=tmp_path / "s.jsonl.gz")
        src._client = __import__("httpx").Client()
        snaps = [src.scrape_now() for _ in range(8)]
        assert len(src._snapshots) == 3  # memory stays bounded
        all_snaps = src.snapshots()
        assert len(all_snaps) == 8  # every scrape is still there, from the file
        w = Window(snaps[0].t, snaps[-1].t)
        assert src.increase("x_total", (), w).value == 70
    finally:
        embedded.IN_MEMORY = old
        server.shutdown()


def poisson_run(seed: int, served_share: float = 1.0, window_s: float = 60.0
                ) -> tuple[EmbeddedSource, object]:
    """A run at 100 req/s offered with Poisson arrivals (the project's own Schedule): the
    requests started in the window as the load generator's samples, and a server that
    counted `served_share` of them (scrapes at the window's edges)."""
    import pandas as pd

    from loadtest.load.schedule import Schedule

    schedule = Schedule(100.0, "poisson", seed=seed)
    schedule.start(0.0)
    starts = []
    while (t := schedule.claim()) < window_s:
        starts.append(t)
    served = round(len(starts) * served_share)
    src = EmbeddedSource(None, snapshots=[
        snap(0.0, http_requests_total__status_200=0.0),
        snap(window_s / 2, http_requests_total__status_200=served / 2),
        snap(window_s, http_requests_total__status_200=float(served))])
    df = pd.DataFrame({"start": starts, "method": ["GET"] * len(starts),
                       "name": ["/api/v1/documents"] * len(starts),
                       "response_ms": [5.0] * len(starts), "status": [200] * len(starts)})
    return src, df


def test_poisson_arrivals_never_fail_a_target_that_serves_what_it_gets() -> None:
    """min 100 req/s at an offered mean of 100: Poisson counts fall under 98 req/s in ~7% of
    60 s windows, which the rule "served / window >= 98" called a FAIL. Judged against what
    was sent and what the schedule offered, no healthy run fails; a dropping target does."""
    slo = parse_slo((SLO % "2s").replace("kind: throughput, min: 10", "kind: throughput, "
                                          "min: 100"), "s")
    short_seeds = []
    for seed in range(20):
        src, df = poisson_run(seed)
        w = Window(0.0, 60.0)
        r = {o.name: o for o in evaluate(slo, src, w, client=df, offered_rate=100.0)}["rps"]
        assert r.status == "pass", (seed, r.detail)
        assert r.extra["offered_rate"] == 100.0
        if r.value < 98.0:  # the old rule's FAIL
            short_seeds.append(seed)
            assert r.extra["judged_against"] == "sent" and "by chance" in r.detail
        dropping_src, df = poisson_run(seed, served_share=0.9)
        bad = {o.name: o for o in evaluate(slo, dropping_src, w, client=df,
                                           offered_rate=100.0)}["rps"]
        assert bad.status == "fail" and "fewer served than sent" in bad.detail
    assert short_seeds  # the seeds do include the chance shortfalls of the old rule
    # a short count with a schedule that offered less than the minimum is still a fail
    src, df = poisson_run(short_seeds[0])
    low = {o.name: o for o in evaluate(slo, src, Window(0.0, 60.0), client=df,
                                       offered_rate=95.0)}["rps"]
    assert low.status == "fail" and "offered less than 100" in low.detail
    # an external load (no samples of the harness's) keeps the plain rule
    external = {o.name: o for o in evaluate(slo, src, Window(0.0, 60.0))}["rps"]
    assert "judged_against" not in external.extra


def test_poisson_counts_short_of_the_mean_are_chance_not_a_starved_generator() -> None:
    """Delivery: 100 req/s asked, 6 s judged (600 expected arrivals, sd 24.5): 560 sent is
    within three sd of a Poisson count, so delivered; constant arrivals keep 5%; far below
    three sd is still a shortfall."""
    from loadtest.judge.checks import delivery

    totals = {"achieved_rate": 560 / 6, "requests": 560}
    assert delivery(totals, 100.0, closed=False, poisson_seconds=6.0).delivered
    assert not delivery(totals, 100.0, closed=False).delivered
    starved = {"achieved_rate": 480 / 6, "requests": 480}
    assert not delivery(starved, 100.0, closed=False, poisson_seconds=6.0).delivered
    # an hour of Poisson arrivals: three sd is 0.5%, so the 5% tolerance stands
    hour = {"achieved_rate": 94.0, "requests": 94 * 3600}
    assert not delivery(hour, 100.0, closed=False, poisson_seconds=3600.0).delivered
