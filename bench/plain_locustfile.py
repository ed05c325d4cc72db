"""A plain closed-model Locust file for comparisons in bench/load_generator.py: the same
requests as scenarios/opscore.py's hot path, paced by Locust's own constant_throughput, with no
shared schedule and no per-request recorder."""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, constant_throughput, task

PER_USER = float(os.environ.get("PLAIN_PER_USER_RATE", "10"))


class PlainUser(FastHttpUser):
    wait_time = constant_throughput(PER_USER)

    @task(3)
    def list_documents(self) -> None:
        self.client.get("/api/v1/documents?limit=20", name="/api/v1/documents")

    @task(2)
    def read_document(self) -> None:
        self.client.get(f"/api/v1/documents/{random.randint(1, 200)}",
                        name="/api/v1/documents/{id}")
