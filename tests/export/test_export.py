"""The generator's figures as Prometheus series (loadtest/export): the remote-write encoding
against a reference, the figures from sample rows, the /metrics endpoint read by Prometheus'
own parser, and a remote write to a loopback receiver that is down or answers 500."""

from __future__ import annotations

import base64
import http.server
import math
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import cramjam
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtest import tls
from loadtest.export.endpoint import MetricsEndpoint, exposition
from loadtest.export.exporter import Exporter, remote_auth
from loadtest.export.figures import ClientFigures, duration_bounds
from loadtest.export.remote_write import (
    HEADERS,
    RemoteWriter,
    compress,
    encode_write_request,
    labels_of,
)
from loadtest.stack.processes import free_port

# The same WriteRequest serialized by the protobuf runtime (google.protobuf 7.36, messages
# built from remote.proto's Label/Sample/TimeSeries/WriteRequest): two series, a sample of
# value 0 (left out by proto3), a NaN, a non-ASCII label value.
REFERENCE = (
    "0aa4010a2a0a085f5f6e616d655f5f121e6c6f6164746573745f636c69656e745f72657175657374735f746f"
    "74616c0a1d0a08656e64706f696e7412112f6170692f76312f646f63756d656e74730a1e0a0672756e5f6964"
    "121432303236313230352d3231333932392d616231320a130a087363656e6172696f12076f7073636f726512"
    "1009000000000048934010e3d5d283af33121009000000000062934010cbddd283af330a530a210a085f5f6e"
    "616d655f5f12156c6f6164746573745f6f626a6563746976655f6f6b0a130a096f626a656374697665120670"
    "393520c3a9120710cbddd283af33121009000000000000f87f10b3e5d283af33")


def test_write_request_encodes_as_protobuf_does() -> None:
    requests = labels_of("loadtest_client_requests_total", {
        "run_id": "20261205-213929-ab12", "scenario": "opscore",
        "endpoint": "/api/v1/documents"})
    ok = labels_of("loadtest_objective_ok", {"objective": "p95 é", "empty": ""})
    body = encode_write_request([(requests, 1764970769123, 1234.0),
                                 (requests, 1764970770123, 1240.5),
                                 (ok, 1764970770123, 0.0),
                                 (ok, 1764970771123, math.nan)])
    assert body.hex() == REFERENCE
    assert bytes(cramjam.snappy.decompress_raw(compress(body))) == body
    # snappy's block format as written by the reference library, not its framing format
    assert compress(b"loadtest loadtest loadtest loadtest").hex() == "23206c6f616474657374" \
        "20660900"


def rows(*samples: tuple[str, str, float, int, int]) -> list[list[str]]:
    return [["start", "intended", "method", "name", "response_ms", "status", "failed"]] + [
        ["1.0", "1.0", m, n, f"{ms:.3f}", str(status), str(failed), "", "0"]
        for m, n, ms, status, failed in samples]


def test_figures_count_rows_into_histograms_with_the_thresholds_as_bounds() -> None:
    assert duration_bounds([2.0, 0.3, math.inf, 0])[:8] == (0.005, 0.01, 0.025, 0.05, 0.075,
                                                            0.1, 0.25, 0.3)
    f = ClientFigures("r1", "opscore", [0.3])
    n = f.add_samples(rows(("GET", "/a", 12.5, 200, 0), ("GET", "/a", 300.0, 200, 0),
                           ("GET", "/a", 300.001, 500, 1), ("POST", "/b", 2000.0, 0, 1))
                      + [["torn", "row"]])
    assert n == 4
    f.set_objectives({"p95": {"state": "fail", "value": 2.5}, "errors": {"state": "-",
                                                                          "value": None}})
    text = exposition(f)
    fams = {m.name: m for m in text_string_to_metric_families(text)}
    got = {(s.name, s.labels.get("endpoint"), s.labels.get("le")): s.value
           for s in fams["loadtest_client_request_duration_seconds"].samples}
    assert got[("loadtest_client_request_duration_seconds_bucket", "/a", "0.3")] == 2
    assert got[("loadtest_client_request_duration_seconds_bucket", "/a", "0.5")] == 3
    assert got[("loadtest_client_request_duration_seconds_bucket", "/b", "1.5")] == 0
    assert got[("loadtest_client_request_duration_seconds_bucket", "/b", "2.0")] == 1
    failures = {s.labels["endpoint"]: s.value
                for s in fams["loadtest_client_request_failures"].samples}
    assert failures == {"/a": 1, "/b": 1}
    ok = fams["loadtest_objective_ok"].samples
    assert [(s.labels["objective"], s.value) for s in ok] == [("p95", 0.0)]  # "-": absent
    assert all(s.labels["run_id"] == "r1" for m in fams.values() for s in m.samples)


class Receiver:
    """A loopback remote-write receiver recording what it got, answering `status`."""

    def __init__(self, status: int, tls: tuple[Path, Path] | None = None) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"refused" if status >= 400 else b"")

            def log_message(self, *_a: object) -> None:
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}/api/v1/write"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_500() -> Iterator[Receiver]:
    r = Receiver(500)
    yield r
    r.close()


def test_remote_write_posts_the_protocol_headers_and_counts_what_it_delivered() -> None:
    r = Receiver(204)
    try:
        w = RemoteWriter(r.url, headers={"Authorization": "Bearer sekrit"})
        labels = labels_of("x_total", {"run_id": "r"})
        w.put([(labels, 1000, 1.0)])
        w.put([(labels, 2000, 2.0)])
        d = w.close(2.0)  # not started: close sends what is pending, in one request
    finally:
        r.close()
    assert d.delivered == 2 and d.undelivered == 0 and d.requests == 1
    headers, body = r.received[0]
    for k, v in HEADERS.items():
        assert headers[k] == v
    assert headers["Authorization"] == "Bearer sekrit"
    assert bytes(cramjam.snappy.decompress_raw(body)) == encode_write_request(
        [(labels, 1000, 1.0), (labels, 2000, 2.0)])


def finished(results: dict, tmp: Path, url: str) -> dict:  # type: ignore[type-arg]
    (tmp / "locust").mkdir()
    (tmp / "locust" / "samples-1.csv").write_text(
        "\n".join(",".join(r) for r in rows(("GET", "/a", 5.0, 200, 0))) + "\n")
    e = Exporter("r1", "opscore", tmp / "locust", [2.0], remote_write=url, final_send_s=1.5)
    try:
        e.tick(None, 1.0e9)
        e.finish(results)
    finally:
        e.close()
    return results


def test_a_receiver_answering_500_is_a_warning_with_the_undelivered_count(
        tmp_path: Path, receiver_500: Receiver) -> None:
    results = finished({"verdict": {"status": "pass", "exit_code": 0}, "warnings": []},
                       tmp_path, receiver_500.url)
    assert results["verdict"] == {"status": "pass", "exit_code": 0}
    rw = results["export"]["remote_write"]
    assert rw["delivered_samples"] == 0 and rw["undelivered_samples"] > 0
    assert receiver_500.received  # it was tried, and retried
    assert [w for w in results["warnings"] if "remote write" in w and "HTTP 500" in w
            and f"{rw['undelivered_samples']} of {rw['undelivered_samples']}" in w]


def test_a_receiver_that_is_down_is_a_warning(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1/write"
    results = finished({"verdict": {"status": "fail", "exit_code": 1}}, tmp_path, url)
    assert results["verdict"]["exit_code"] == 1
    assert results["export"]["remote_write"]["undelivered_samples"] > 0
    assert "ConnectError" in results["warnings"][0]


def test_the_endpoint_serves_the_figures(tmp_path: Path) -> None:
    f = ClientFigures("r2", "opscore")
    f.add_samples(rows(("GET", "/a", 5.0, 200, 0)))
    ep = MetricsEndpoint(f)
    try:
        text = httpx.get(ep.url, timeout=5).text
    finally:
        ep.close()
    assert 'loadtest_client_requests_total{endpoint="/a",method="GET",run_id="r2",' \
        'scenario="opscore"} 1.0' in text


def test_the_dashboards_load_test_row_queries_only_exported_series_of_the_chosen_run() -> None:
    import json
    import re

    from tests.support import ROOT

    d = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "opscore-loadtest.json")
                   .read_text())
    f = ClientFigures("r3", "opscore", [2.0])
    f.add_samples(rows(("GET", "/a", 5.0, 200, 0)))
    f.add_tasks([["1.0", "1.001"]])
    f.set_load(10.0, 5, 1.0, 0.1)
    f.set_objectives({"p95": {"state": "pass", "value": 0.1}})
    f.set_end("pass", 0)
    exported = {s.name for m in text_string_to_metric_families(exposition(f)) for s in m.samples}
    used = set()
    for panel in d["panels"]:
        for t in panel.get("targets", []):
            for name in re.findall(r"\b(loadtest_[a-z0-9_]*)(?=\{|\[)", t["expr"]):
                used.add(name)
                assert re.search(name + r'\{[^}]*run_id=~"\$run_id"', t["expr"]), t["expr"]
    assert used and used <= exported, used - exported
    [var] = d["templating"]["list"]
    assert var["name"] == "run_id" and "loadtest_client_requests_total" in var["query"]


def test_remote_write_credentials_and_certificates_as_for_prometheus(
        self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Basic auth from LOADTEST_REMOTE_WRITE_USER/_PASSWORD; the receiver's certificate checked
    (refused: undelivered), trusted with LOADTEST_REMOTE_WRITE_CA_FILE, or skipped."""
    r = Receiver(204, tls=self_signed)
    labels = labels_of("x_total", {"run_id": "r"})
    monkeypatch.setenv("LOADTEST_REMOTE_WRITE_USER", "rw")
    monkeypatch.setenv("LOADTEST_REMOTE_WRITE_PASSWORD", "pw")
    try:
        headers, auth = remote_auth()
        refused = RemoteWriter(r.url, headers, auth, tls.httpx_verify("remote_write"))
        refused.put([(labels, 1000, 1.0)])
        d = refused.close(0.1)
        assert d.delivered == 0 and d.undelivered == 1
        assert "CERTIFICATE_VERIFY_FAILED" in d.errors[0] and not r.received
        monkeypatch.setenv("LOADTEST_REMOTE_WRITE_CA_FILE", str(self_signed[0]))
        trusted = RemoteWriter(r.url, headers, auth, tls.httpx_verify("remote_write"))
        trusted.put([(labels, 2000, 1.0)])
        assert trusted.close(2.0).delivered == 1
        monkeypatch.delenv("LOADTEST_REMOTE_WRITE_CA_FILE")
        monkeypatch.setenv("LOADTEST_REMOTE_WRITE_INSECURE", "1")
        skipped = RemoteWriter(r.url, headers, auth, tls.httpx_verify("remote_write"))
        skipped.put([(labels, 3000, 1.0)])
        assert skipped.close(2.0).delivered == 1
    finally:
        r.close()
    assert [h["Authorization"] for h, _ in r.received] == [
        "Basic " + base64.b64encode(b"rw:pw").decode()] * 2


def test_a_fault_of_the_export_never_reaches_the_load_loop(tmp_path: Path) -> None:
    class Broken:
        cpu = None
        requested = None

        def states(self) -> dict:  # type: ignore[type-arg]
            raise RuntimeError("monitor gone")

    class Ticker:
        monitor = Broken()

    e = Exporter("r", "s", tmp_path / "locust")
    e.tick(Ticker(), 1.0e9)
    results: dict = {"verdict": {"status": "pass", "exit_code": 0}}  # type: ignore[type-arg]
    e.finish(results)
    e.close()
    assert results["export"]["errors"] == ["RuntimeError: monitor gone"]
    assert results["export"]["ticks"] == 1 and results["verdict"]["exit_code"] == 0
