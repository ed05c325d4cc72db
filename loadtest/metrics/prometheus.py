"""A Prometheus server as the metrics source, through prometheus-api-client.

Pitfalls handled here: ranges in whole milliseconds, one instant query at the window's end, a
timeout on every request, refused connections and 5xx answers asked again with a bounded
backoff, no data stays no data (NaN or empty is None), and `settle()` waits until a scrape at
or after the window's end is stored, because Prometheus answers queries about the future
without complaint.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import time
from typing import Literal, TypedDict

import httpx
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests import RequestException
from urllib3.util.retry import Retry

from loadtest import httpread, tls
from loadtest.durations import parse_duration
from loadtest.httpread import BodyRefused, bounded_session
from loadtest.metrics.base import (
    Figure,
    Matcher,
    MetricsSource,
    SourceError,
    Window,
    render_selector,
)
from loadtest.metrics.edges import increases
from loadtest.metrics.histogram import histogram_quantile
from loadtest.store.records import ScrapeHealth, SourceInfo

DEFAULT_TIMEOUT_S = 10.0
MAX_ANSWER = 256 * 1024 * 1024  # a query answer larger than this is refused, not parsed
SILENT_GIVE_UP_S = 3.0  # settle() stops waiting on a Prometheus that answers nothing this long
RETRIES = 3  # a query refused, or answered 5xx/408/429, is asked again this many times
BACKOFF_MAX_S = 2.0
RETRY_STATUSES = [408, 429, 500, 502, 503, 504]


def auth_from_env() -> tuple[dict[str, str] | None, tuple[str, str] | None]:
    """Prometheus credentials come only from the environment and are never printed."""
    token = os.environ.get("LOADTEST_PROMETHEUS_TOKEN")
    user = os.environ.get("LOADTEST_PROMETHEUS_USER")
    password = os.environ.get("LOADTEST_PROMETHEUS_PASSWORD", "")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return headers, ((user, password) if user else None)


class PromSeries(TypedDict, total=False):
    """One series of a Prometheus query's answer (`data.result[]`), as the API documents it;
    the code that reads one still checks each value (SourceError on another shape)."""
    metric: dict[str, str]
    value: list[float | str]              # (time, "value"): an instant vector
    values: list[list[float | str]]       # [(time, "value"), ...]: a range vector


class PrometheusSource(MetricsSource):
    name = "prometheus"

    def __init__(self, url: str, up_matchers: tuple[Matcher, ...] = (),
                 timeout_s: float = DEFAULT_TIMEOUT_S, scrape_interval_s: float | None = None,
                 local: bool = False, insecure: bool = False) -> None:
        """`insecure`: --insecure-prometheus (see loadtest/tls.py)."""
        self.url = url.rstrip("/")
        self.up_matchers = up_matchers
        self.up_selector = render_selector(up_matchers) if up_matchers else ""  # job/instance
        self.timeout_s = timeout_s
        self.scrape_interval_s = scrape_interval_s
        self.local = local
        self._headers, self._auth = auth_from_env()
        self.insecure = insecure
        self._verify = tls.httpx_verify("prometheus", insecure)  # see loadtest/tls.py
        if tls.skipped("prometheus", insecure):  # said once in the report, not on every query

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        # a refused connection and a 5xx (or 408/429) are asked again, RETRIES times with
        # backoff (0, 0.5, 1 s: at most BACKOFF_MAX_S each, Retry-After not obeyed); a read that
        # timed out is not (a slow Prometheus is not helped by asking again: the wait stays
        # one timeout); the last answer's status is then the error
        retry = Retry(total=RETRIES, connect=RETRIES, status=RETRIES, read=0, other=0,
                      backoff_factor=0.25, backoff_max=BACKOFF_MAX_S,
                      status_forcelist=RETRY_STATUSES, allowed_methods=["GET", "POST"],
                      raise_on_status=False, respect_retry_after_header=False)
        # every answer is read under a deadline and a size cap: a trickling or endless body
        # never trips requests' per-read timeout
        session = bounded_session(timeout_s, tls.requests_verify("prometheus", insecure),
                                  MAX_ANSWER)
        self._client = PrometheusConnect(url=self.url, headers=self._headers, auth=self._auth,
                                         retry=retry, timeout=timeout_s, session=session)

    # -- plumbing ---------------------------------------------------------------------------
    def query(self, promql: str, at: float | None = None) -> list[PromSeries]:
        params = {"time": f"{at:.3f}"} if at is not None else None
        try:
            result = self._client.custom_query(promql, params=params)
        except PrometheusApiClientException as e:
            status = re.match(r"HTTP Status Code (5\d\d)", str(e))
            if status:  # still failing after the retries: unavailable, not a bad query
                raise SourceError(f"Prometheus at {self.url} did not answer: HTTP "
                                  f"{status.group(1)} (asked {RETRIES + 1} times)") from None
            raise SourceError(f"Prometheus rejected the query {promql!r}: "
                              f"{str(e).splitlines()[0][:300]}") from None
        except ValueError as e:  # a body that is not JSON (requests' JSONDecodeError too)
            raise SourceError(f"Prometheus at {self.url} answered garbage: "
                              f"{str(e)[:200]}") from None
        except BodyRefused as e:
            raise SourceError(f"Prometheus at {self.url} {e}") from None
        except (RequestException, OSError) as e:
            raise SourceError(f"Prometheus at {self.url} did not answer: "
                              f"{type(e).__name__}") from None
        if not isinstance(result, list):
            raise SourceError(f"Prometheus at {self.url} answered an unexpected shape")
        return result

    def scalar(self, promql: str, at: float | None = None) -> float | None:
        result = self.query(promql, at)
        if not result:
            return None
        try:
            value = float(result[0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise SourceError(f"Prometheus answered an unexpected shape for {promql!r}") \
                from None
        return None if math.isnan(value) else value

    def instant(self, promql: str, at: float) -> list[tuple[dict[str, str], float]]:
        out = []
        for r in self.query(promql, at):
            try:
                out.append((dict(r.get("metric", {})), float(r["value"][1])))
            except (KeyError, IndexError, TypeError, ValueError):
                raise SourceError(f"Prometheus answered an unexpected shape for {promql!r}") \
                    from None
        return out

    def bucket_bounds(self, histogram: str, matchers: tuple[Matcher, ...]) -> list[str]:
        rows = self.instant(f"count by (le) ({histogram}_bucket{render_selector(matchers)})",
                            time.time())
        return sorted({labels["le"] for labels, _ in rows if "le" in labels})

    def alert_rules(self) -> int:
        try:
            r = httpread.get(f"{self.url}/api/v1/rules", deadline_s=self.timeout_s,
                             verify=self._verify, max_bytes=MAX_ANSWER,
                             params={"type": "alert"}, headers=self._headers, auth=self._auth)
            groups = r.json()["data"]["groups"]
        except (httpx.HTTPError, BodyRefused, ValueError, KeyError, TypeError) as e:
            raise SourceError(f"Prometheus at {self.url}: cannot list its rules ({e})") \
                from None
        return sum(len(g.get("rules", [])) for g in groups)

    def target_scrape_interval(self) -> tuple[float, str] | None:
        """How often Prometheus scrapes the target, and where that was read: `scrapeInterval`
        of the active targets matching the selector's job/instance in `/api/v1/targets` (the
        longest, if several match). A server without that API (a Thanos or Mimir querier):
        estimated from the spacing of the last `up` samples. None: no matching target."""
        try:
            r = httpread.get(f"{self.url}/api/v1/targets", deadline_s=self.timeout_s,
                             verify=self._verify, max_bytes=MAX_ANSWER,
                             params={"state": "active"}, headers=self._headers,
                             auth=self._auth)
            targets = r.json()["data"]["activeTargets"] if r.status_code == 200 else None
        except (httpx.HTTPError, BodyRefused, ValueError, KeyError, TypeError):
            targets = None
        if isinstance(targets, list):
            found = []
            for t in targets:
                labels = t.get("labels") if isinstance(t, dict) else None
                if not isinstance(labels, dict) or not all(m.matches(labels)
                                                           for m in self.up_matchers):
                    continue
                try:
                    found.append(parse_duration(str(t.get("scrapeInterval", ""))))
                except ValueError:
                    continue
            if found:
                return max(found), "/api/v1/targets"
        estimate = self._interval_from_up()
        return (estimate, "spacing of up samples") if estimate is not None else None

    def _interval_from_up(self) -> float | None:
        sel = self.up_selector
        try:
            raw = self.query(f"up{sel}[10m]")
        except SourceError:
            return None
        gaps = []
        for series in raw:
            times = [float(t) for t, _ in series.get("values", [])][-20:]
            gaps += [b - a for a, b in itertools.pairwise(times)]
        if not gaps:
            return None
        gaps.sort()
        return round(gaps[len(gaps) // 2], 3)

    def ready(self) -> bool:
        try:
            r = httpx.get(f"{self.url}/-/ready", headers=self._headers, auth=self._auth,
                          timeout=2.0, trust_env=False, verify=self._verify)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if time.monotonic() > deadline:
                raise SourceError(f"Prometheus at {self.url} is not ready "
                                  f"(GET /-/ready failed for {timeout_s:.0f} s)")
            time.sleep(0.1)

    def wait_target_up(self, timeout_s: float) -> None:
        """Poll until the target has been scraped successfully at least once."""
        expr = f"max(up{self.up_selector})"
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.scalar(expr)
            if value == 1.0:
                return
            if time.monotonic() > deadline:
                raise SourceError(f"Prometheus at {self.url} has no successful scrape of the "
                                  f"target after {timeout_s:.0f} s ({expr} = {value})")
            time.sleep(0.25)

    def settle(self, window: Window, timeout_s: float) -> None:
        """Wait for a *successful* scrape at or after the window's end (`up` is written for
        failed scrapes too). `timestamp()` of a selector, filtered by `and`: of `up == 1` it
        would be the evaluation's time, not the scrape's (so this returned at once)."""
        sel = self.up_selector
        expr = f"max(timestamp(up{sel}) and (up{sel} == 1))"
        deadline = time.monotonic() + timeout_s
        last = None
        silent_since: float | None = None  # a run of answers that never came
        while True:
            try:
                last = self.scalar(expr)
                silent_since = None
            except SourceError as e:
                last = None
                now = time.monotonic()
                if "did not answer" in str(e):
                    silent_since = silent_since if silent_since is not None else now
                    if now - silent_since >= SILENT_GIVE_UP_S:
                        raise SourceError(f"{e} (for {now - silent_since:.0f} s, while waiting "
                                          "for a scrape at the window's end)") from None
            if last is not None and last >= window.end:
                return
            if time.monotonic() > deadline:
                raise SourceError(
                    f"Prometheus at {self.url} holds no scrape at or after the window's end "
                    f"after waiting {timeout_s:.0f} s (last scrape at {last})")
            time.sleep(0.2)

    def scrape_health(self, window: Window) -> ScrapeHealth:
        """Scrapes of the target inside the window: how many, how many failed, restarts."""
        sel = self.up_selector
        d = f"[{window.range_ms}ms]"
        out = ScrapeHealth()
        keys: tuple[tuple[Literal["scrapes", "successful", "restarts"], str], ...] = (
            ("scrapes", f"sum(count_over_time(up{sel}{d}))"),
            ("successful", f"sum(sum_over_time(up{sel}{d}))"),
            ("restarts", f"sum(changes(process_start_time_seconds{sel}{d}))"))
        for key, expr in keys:
            try:
                out[key] = self.scalar(expr, window.end)
            except SourceError as e:
                out[key] = None
                out["error"] = str(e)
        scrapes, successful = out.get("scrapes"), out.get("successful")
        if scrapes is not None and successful is not None:
            out["failed"] = scrapes - successful
        try:  # when the scrapes happened, as offsets into the window (gaps show here)
            raw = self.query(f"up{sel}{d}", window.end)
            if raw:
                out["scrape_offsets_s"] = [round(float(t) - window.start, 3)
                                           for t, _ in raw[0].get("values", [])]
        except (SourceError, TypeError, ValueError):
            pass
        return out

    # -- figures ----------------------------------------------------------------------------
    def increase(self, metric: str, matchers: tuple[Matcher, ...], window: Window) -> Figure:
        q = f"sum(increase({metric}{render_selector(matchers)}[{window.range_ms}ms]))"
        counted = self._at_edges(f"{metric}{render_selector(matchers)}", window, None)
        if counted is None:
            return Figure(self.scalar(q, window.end), q)
        totals, how = counted
        return Figure(sum(totals.values()) if totals else None, f"{q} {how}")

    def buckets(self, histogram: str, matchers: tuple[Matcher, ...],
                window: Window) -> tuple[dict[str, float] | None, str]:
        q = (f"sum by (le) (increase({histogram}_bucket{render_selector(matchers)}"
             f"[{window.range_ms}ms]))")
        counted = self._at_edges(f"{histogram}_bucket{render_selector(matchers)}", window, "le")
        if counted is not None:
            totals, how = counted
            return (totals or None), f"{q} {how}"
        result = self.query(q, window.end)
        if not result:
            return None, q
        out: dict[str, float] = {}
        for r in result:
            le = r.get("metric", {}).get("le")
            if le is None:
                continue
            value = float(r["value"][1])
            out[le] = 0.0 if math.isnan(value) else value
        return (out or None), q

    def quantile(self, q: float, histogram: str, matchers: tuple[Matcher, ...],
                 window: Window) -> Figure:
        """histogram_quantile (Prometheus' own interpolation, loadtest/metrics/histogram.py)
        over the same bucket counts as `buckets`."""
        totals, how = self.buckets(histogram, matchers, window)
        return Figure(None if totals is None else histogram_quantile(q, totals),
                      f"histogram_quantile({q}, {how})")

    def _at_edges(self, selector: str, window: Window, group: str | None
                  ) -> tuple[dict[str, float], str] | None:
        """The increase over the window per `group` value (loadtest/metrics/edges.py: each
        target's series summed, then extrapolated to the edges within its scrapes either
        side), and how it was counted; None when the raw scrapes cannot tell (a reset inside
        the window, a series gone, too few scrapes): then Prometheus' increase() is asked."""
        # two intervals either side (unknown: 15 s, a common one; a longer one leaves fewer
        # scrapes around the edges, and with fewer than two inside the window increase() is
        # asked)
        pad = 2 * (self.scrape_interval_s or 15.0)
        span = f"[{round(2 * pad * 1000)}ms]"
        if self.scalar(f"sum(resets({selector}[{window.range_ms}ms]))", window.end):
            return None
        around = []
        for edge in (window.start, window.end):
            around.append([({k: v for k, v in r.get("metric", {}).items() if k != "__name__"},
                            [(float(t), float(v)) for t, v in r.get("values", [])])
                           for r in self.query(f"{selector}{span}", edge + pad)])
        totals = increases(around[0], around[1], window.start, window.end, group)
        if totals is None:
            return None
        return totals, (f"of each target's series summed, extrapolated to the edges within "
                        f"its scrapes either side ({selector}{span} at "
                        f"{window.start + pad:.3f} and {window.end + pad:.3f})")

    def describe(self) -> SourceInfo:
        return SourceInfo(name=self.name, url=self.url,
                          scrape_interval_s=self.scrape_interval_s, local=self.local)
