"""Locust's quickstart locustfile, pointed at the reference target's routes: tasks that are
journeys (two requests; ten requests with a second of sleep after each). Nothing from the
harness."""

import time

from locust import HttpUser, between, task


class QuickstartUser(HttpUser):
    wait_time = between(1, 5)

    @task
    def hello_world(self):
        self.client.get("/health")
        self.client.get("/api/v1/documents?limit=5", name="/api/v1/documents")

    @task(3)
    def view_items(self):
        for item_id in range(1, 11):
            self.client.get(f"/api/v1/documents/{item_id}", name="/api/v1/documents/{id}")
            time.sleep(1)
