"""The OpsCore API mix: mostly reading documents, some writing, execution records,
attachments now and then, /health rarely. One request per task, named by route template so
statistics stay per endpoint.

Run by the harness (`loadtest run --scenario scenarios/opscore.py`), which sets the rate; it
also runs under plain Locust: `LOADTEST_LOCUST_RATE=50 locust -f scenarios/opscore.py`, judged
with `--slo slo/opscore.yaml` (the plugin below). Under `locust --master` the master's
LOADTEST_LOCUST_RATE is the aggregate, split over the workers connected (workers.py).
"""

from __future__ import annotations

import os
import random

from locust import task

import loadtest.locust_plugin  # noqa: F401 - `--slo` and friends on a plain `locust` run
from loadtest.locustlib import PacedUser

DOC = "/api/v1/documents/{id}"
WORDS = ["runbook", "evidence", "deploy", "audit", "backup", "rotate", "incident", "review"]


class Known:
    """Document ids this process has seen (shared by its users)."""
    ids: list[int] = []

    @classmethod
    def add(cls, items: list[dict]) -> None:
        if not isinstance(items, list):
            return
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), int):
                cls.ids.append(item["id"])
        del cls.ids[:-2000]

    @classmethod
    def pick(cls) -> int | None:
        return random.choice(cls.ids) if cls.ids else None

    @classmethod
    def forget(cls, doc_id: int) -> None:
        try:
            cls.ids.remove(doc_id)
        except ValueError:
            pass


def _json(r, key: str | None = None):  # type: ignore[no-untyped-def]
    """The JSON body (or its `key`); a success whose body is not JSON is a failure."""
    if r.request_meta.get("exception"):  # already failed (e.g. the body timed out)
        return [] if key else {}
    try:
        body = r.json()
        return body[key] if key else body
    except (ValueError, KeyError, TypeError) as e:
        r.failure(f"answered {r.status_code} with a body that is not the API's JSON "
                  f"({type(e).__name__})")
        return [] if key else {}


class OpsCoreUser(PacedUser):
    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        self.user_id = f"user-{random.randint(1, 500)}"
        self.default_headers = {"X-User-Id": self.user_id}
        token = os.environ.get("LOADTEST_TARGET_TOKEN")  # a secret: never logged
        if token:
            self.default_headers["Authorization"] = f"Bearer {token}"
        super().__init__(environment)

    def _doc_or_list(self) -> int | None:
        doc_id = Known.pick()
        if doc_id is None:
            self.list_documents()
        return doc_id

    @task(30)
    def list_documents(self) -> None:
        offset = random.choice([0, 0, 0, 20, 40])
        with self.client.get(f"/api/v1/documents?limit=20&offset={offset}",
                             name="/api/v1/documents", catch_response=True) as r:
            if r.status_code == 200:
                Known.add(_json(r, "items"))

    @task(12)
    def search_documents(self) -> None:
        self.client.get(f"/api/v1/documents/search?q={random.choice(WORDS)}",
                        name="/api/v1/documents/search")

    @task(25)
    def read_document(self) -> None:
        doc_id = self._doc_or_list()
        if doc_id is None:
            return
        with self.client.get(f"/api/v1/documents/{doc_id}", name=DOC,
                             catch_response=True) as r:
            if r.status_code == 404:  # deleted by another user: not a failure of the target
                Known.forget(doc_id)
                r.success()

    @task(8)
    def create_document(self) -> None:
        word = random.choice(WORDS)
        with self.client.post("/api/v1/documents", name="/api/v1/documents",
                              json={"title": f"{word} {random.randint(1, 10**6)}",
                                    "content": f"Procedure for {word}. " * 20},
                              catch_response=True) as r:
            if r.status_code == 201:
                Known.add([_json(r)])

    @task(7)
    def update_document(self) -> None:
        doc_id = self._doc_or_list()
        if doc_id is None:
            return
        with self.client.put(f"/api/v1/documents/{doc_id}", name=DOC,
                             json={"content": f"Revised {random.randint(1, 10**6)}"},
                             catch_response=True) as r:
            if r.status_code == 404:
                Known.forget(doc_id)
                r.success()

    @task(1)
    def delete_document(self) -> None:
        doc_id = self._doc_or_list()
        if doc_id is None:
            return
        Known.forget(doc_id)
        with self.client.delete(f"/api/v1/documents/{doc_id}", name=DOC,
                                catch_response=True) as r:
            if r.status_code == 404:
                r.success()

    @task(7)
    def list_execution_records(self) -> None:
        doc_id = self._doc_or_list()
        if doc_id is None:
            return
        with self.client.get(f"/api/v1/documents/{doc_id}/execution-records",
                             name="/api/v1/documents/{id}/execution-records",
                             catch_response=True) as r:
            if r.status_code == 404:
                Known.forget(doc_id)
                r.success()

    @task(6)
    def create_execution_record(self) -> None:
        doc_id = self._doc_or_list()
        if doc_id is None:
            return
        with self.client.post(f"/api/v1/documents/{doc_id}/execution-records",
                              name="/api/v1/documents/{id}/execution-records",
                              json={"status": random.choice(["started", "succeeded", "failed"]),
                                    "note": "checked by load test"},
                              catch_response=True) as r:
            if r.status_code == 404:
                Known.forget(doc_id)
                r.success()

    @task(2)
    def upload_attachment(self) -> None:
        doc_id = self._doc_or_list()
        if doc_id is None:
            return
        with self.client.post(f"/api/v1/documents/{doc_id}/attachments?filename=evidence.txt",
                              name="/api/v1/documents/{id}/attachments",
                              data=os.urandom(random.choice([512, 2048, 8192])),
                              headers={"Content-Type": "application/octet-stream"},
                              catch_response=True) as r:
            if r.status_code == 404:
                Known.forget(doc_id)
                r.success()

    @task(1)
    def health(self) -> None:
        self.client.get("/health", name="/health")

    @task(1)
    def whoami(self) -> None:
        self.client.get("/api/v1/users/me", name="/api/v1/users/me")
