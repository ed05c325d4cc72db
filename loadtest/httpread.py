"""Bounded HTTP GETs of a server that may be broken or hostile: an endless body, a trickle that
never trips a read timeout, a huge answer, bytes that are not UTF-8. Each GET costs at most
`deadline_s` (plus one read timeout) and `max_bytes` of memory; the body is decoded leniently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import requests

MAX_BYTES = 64 * 1024 * 1024


class BodyRefused(Exception):
    """The answer was too large or too slow to read whole."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes
    encoding: str

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    def json(self) -> Any:
        return json.loads(self.text)


def bounded_get(client: Any, url: str, *, deadline_s: float, max_bytes: int = MAX_BYTES,
                **kwargs: Any) -> Answer:
    """GET through an `httpx.Client`; raises httpx.HTTPError or BodyRefused."""
    started = time.monotonic()
    with client.stream("GET", url, **kwargs) as resp:
        body = read_bounded(resp.iter_bytes(), started, deadline_s, max_bytes, f"{url} ")
        return Answer(resp.status_code, body, resp.encoding or "utf-8")


def read_bounded(chunks: Iterable[bytes], started: float, deadline_s: float, max_bytes: int,
                 who: str = "") -> bytes:
    """The whole body from `chunks`, or BodyRefused past `max_bytes` or `deadline_s` after
    `started` (a monotonic time)."""
    out: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise BodyRefused(f"{who}answered more than {max_bytes // 1024 // 1024} MB")
        out.append(chunk)
        if time.monotonic() - started > deadline_s:
            raise BodyRefused(f"{who}was still sending after {deadline_s:g} s")
    return b"".join(out)


def get(url: str, *, deadline_s: float, verify: Any = True,
        max_bytes: int = MAX_BYTES, **kwargs: Any) -> Answer:
    """One bounded GET with its own client (per-read timeout = deadline_s)."""
    with httpx.Client(timeout=deadline_s, trust_env=False, verify=verify) as client:
        return bounded_get(client, url, deadline_s=deadline_s, max_bytes=max_bytes, **kwargs)


def bounded_session(deadline_s: float, verify: bool | str = True,
                    max_bytes: int = MAX_BYTES) -> Any:
    """A requests.Session (for prometheus-api-client) whose every answer is read under the
    same bounds; raises BodyRefused."""
    class BoundedSession(requests.Session):
        def request(self, method: str, url: str,  # type: ignore[override]
                    *args: Any, **kwargs: Any) -> requests.Response:
            kwargs["stream"] = True
            started = time.monotonic()
            resp = super().request(method, url, *args, **kwargs)
            try:
                body = read_bounded(resp.iter_content(65536), started, deadline_s, max_bytes)
            finally:
                resp.close()
            resp._content = body  # what `resp.content` returns from now on
            resp._content_consumed = True
            return resp

    session = BoundedSession()
    session.verify = verify
    session.trust_env = False  # no proxy from the environment: traffic stays where it is sent
    return session
