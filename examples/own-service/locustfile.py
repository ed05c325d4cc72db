"""Load for the example service (examples/own-service/service.py): mostly reads, some orders.
The harness sets the rate; each request is named by its route so statistics stay per route."""

from __future__ import annotations

import random

from locust import task

from loadtest.locustlib import PacedUser


class ShopUser(PacedUser):
    @task(6)
    def list_items(self) -> None:
        self.client.get("/items", name="/items")

    @task(3)
    def read_item(self) -> None:
        self.client.get(f"/items/{random.randint(1, 20)}", name="/items/{id}")

    @task(1)
    def order(self) -> None:
        self.client.post("/orders", json={"item": random.randint(1, 20)}, name="/orders")
