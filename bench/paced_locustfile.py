"""The same requests as bench/plain_locustfile.py, on the harness's open-model schedule with
its per-request recorder (what `loadtest run` adds to a scenario)."""

from __future__ import annotations

import random

from locust import task

from loadtest.locustlib import PacedUser


class PacedPlain(PacedUser):
    @task(3)
    def list_documents(self) -> None:
        self.client.get("/api/v1/documents?limit=20", name="/api/v1/documents")

    @task(2)
    def read_document(self) -> None:
        self.client.get(f"/api/v1/documents/{random.randint(1, 200)}",
                        name="/api/v1/documents/{id}")
