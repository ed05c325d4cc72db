"""A real HTTP server on loopback that answers badly on purpose, path by path.

Modes: `json:TEXT` (200, that body), `nonutf8` (200, bytes that are not UTF-8), `huge:N` (200,
N MiB of one byte), `endless` (200, a chunked body trickled forever: every read succeeds, so
no read timeout ever fires), `slow:S` (sleeps S seconds, then answers `{}`), `status:N`,
`flaky:N:MODE` (the first N requests answer 500, the rest as MODE). Each request is counted
per path prefix (`hits`).
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NON_UTF8 = b'{"status": "\xff\xfe\xfa healthy"}\n\xc3\x28'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, str] = {}
    stop = threading.Event()
    hits: dict[str, int] = {}
    lock = threading.Lock()

    def _route(self) -> tuple[str, str]:
        """The longest route prefix of the path, and its mode."""
        path = self.path.split("?")[0]
        best = ""
        for prefix in self.routes:
            if path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        return best, self.routes.get(best, "status:404")

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    do_PUT = do_POST
    do_DELETE = do_GET

    def _answer(self) -> None:
        prefix, mode = self._route()
        with self.lock:
            self.hits[prefix] = self.hits.get(prefix, 0) + 1
            seen = self.hits[prefix]
        kind, _, arg = mode.partition(":")
        if kind == "flaky":
            failing, _, rest = arg.partition(":")
            kind, _, arg = ("status", "", "500") if seen <= int(failing) else \
                rest.partition(":")
        try:
            if kind == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while not self.stop.is_set():
                    chunk = b" " * 512
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    time.sleep(0.05)
                return
            if kind == "slow":
                self.stop.wait(float(arg))
                body, status = b"{}", 200
            elif kind == "json":
                body, status = arg.encode(), 200
            elif kind == "nonutf8":
                body, status = NON_UTF8, 200
            elif kind == "huge":
                body, status = b"x" * (int(arg) * 1024 * 1024), 200
            else:
                body, status = b"", int(arg)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


class HostileUrl(str):
    """The server's base URL, with the requests it answered per path prefix (`hits`)."""

    def __new__(cls, url: str, hits: dict[str, int]) -> HostileUrl:
        self = super().__new__(cls, url)
        self.hits = hits
        return self

    hits: dict[str, int]


@contextmanager
def hostile_server(routes: dict[str, str],
                   tls: tuple[Path, Path] | None = None) -> Iterator[HostileUrl]:
    """Serve `routes` (path prefix -> mode), over https with `tls` = (certificate, key);
    yields the base URL."""
    handler = type("Handler", (_Handler,), {"routes": routes, "stop": threading.Event(),
                                            "hits": {}, "lock": threading.Lock()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield HostileUrl(f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}",
                         handler.hits)
    finally:
        handler.stop.set()
        server.shutdown()
        server.server_close()
