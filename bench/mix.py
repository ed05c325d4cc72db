"""The requests every bench locustfile sends (scenarios/opscore.py's hot path), in one place, as
Locust task callables: `tasks = TASKS` in a User class."""

from __future__ import annotations

import random
from typing import Any


def list_documents(user: Any) -> None:
    user.client.get("/api/v1/documents?limit=20", name="/api/v1/documents")


def read_document(user: Any) -> None:
    user.client.get(f"/api/v1/documents/{random.randint(1, 200)}",
                    name="/api/v1/documents/{id}")


TASKS = {list_documents: 3, read_document: 2}
