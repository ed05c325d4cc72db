"""A team's own locustfile with the one line that adds the SLO gate to `locust --headless`."""

from locust import FastHttpUser, constant_throughput, task

import loadtest.locust_plugin  # noqa: F401


class Api(FastHttpUser):
    wait_time = constant_throughput(6)  # 20 users: 120 req/s

    @task(3)
    def list_documents(self):
        self.client.get("/api/v1/documents?limit=5", name="/api/v1/documents")

    @task(1)
    def health(self):
        self.client.get("/health")
