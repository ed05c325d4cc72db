"""A journey with a login: each user signs in once (on_start), then each task reads the
document list, one document and its execution records. Nothing from the harness."""

import random

from locust import FastHttpUser, constant, task


class Reviewer(FastHttpUser):
    wait_time = constant(2)

    def on_start(self):
        self.client.get("/api/v1/users/me", name="login")

    @task
    def review(self):
        self.client.get("/api/v1/documents?limit=5", name="/api/v1/documents")
        doc = random.randint(1, 50)
        self.client.get(f"/api/v1/documents/{doc}", name="/api/v1/documents/{id}")
        self.client.get(f"/api/v1/documents/{doc}/execution-records",
                        name="/api/v1/documents/{id}/execution-records")
