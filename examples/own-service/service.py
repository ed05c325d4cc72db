"""A small service that is not OpsCore, to show how the harness gates your own service.

Its names are its own: `shop_requests_total{route,verb,code}` and the histogram
`shop_request_seconds{route,verb}`, a liveness probe at `/-/healthy` (no /health, no /ready),
and /metrics on the API's port or, with `--metrics-port`, on a port of its own.

    python examples/own-service/service.py --port 8081 --delay 20ms
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
REQUESTS = Counter("shop_requests", "Requests served", ["route", "verb", "code"],
                   registry=REGISTRY)
SECONDS = Histogram("shop_request_seconds", "Time to serve a request", ["route", "verb"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
                    registry=REGISTRY)
ROUTES = (("GET", "/items"), ("GET", "/items/{id}"), ("POST", "/orders"))
for verb, route in ROUTES:  # every series exists from the start (no undercount mid-window)
    SECONDS.labels(route, verb)
    for code in ("200", "201", "404", "500"):
        REQUESTS.labels(route, verb, code)


def seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: use 20ms or 1s")
    return float(m.group(1)) * (0.001 if m.group(2) == "ms" else 1.0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay_s = 0.0
    serve_metrics = True

    def _answer(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _api(self, verb: str) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if verb == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
        if verb == "GET" and path == "/items":
            route, code, body = "/items", 200, {"items": list(range(1, 21))}
        elif verb == "GET" and re.fullmatch(r"/items/\d+", path):
            route, code, body = "/items/{id}", 200, {"id": int(path.rsplit("/", 1)[1])}
        elif verb == "POST" and path == "/orders":
            route, code, body = "/orders", 201, {"order": "accepted"}
        else:
            self._answer(404, b'{"error":"not found"}')
            return
        time.sleep(self.delay_s)
        self._answer(code, json.dumps(body).encode())
        REQUESTS.labels(route, verb, str(code)).inc()
        SECONDS.labels(route, verb).observe(time.perf_counter() - started)

    def do_GET(self) -> None:
        if self.path == "/-/healthy":
            self._answer(200, b"Healthy.\n", "text/plain")
        elif self.path == "/metrics" and self.serve_metrics:
            self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        else:
            self._api("GET")

    def do_POST(self) -> None:
        self._api("POST")

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--delay", type=seconds, default=0.02, help="time per request")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve /metrics there instead of on --port")
    args = parser.parse_args()
    Handler.delay_s = args.delay
    if args.metrics_port:
        Handler.serve_metrics = False
        start_http_server(args.metrics_port, addr=args.host, registry=REGISTRY)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
