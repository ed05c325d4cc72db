"""A LoadTestShape that knows nothing of the run time: 5 users, then 10, for a minute; a
journey of two requests and think time per task. Locust runs it to its own end."""

import time

from locust import HttpUser, LoadTestShape, constant, task


class Browser(HttpUser):
    wait_time = constant(0.5)

    @task
    def browse(self):
        self.client.get("/api/v1/documents?limit=5", name="/api/v1/documents")
        time.sleep(0.2)
        self.client.get("/health")


class Rising(LoadTestShape):
    def tick(self):
        t = self.get_run_time()
        if t > 60:
            return None
        return (5, 5) if t < 5 else (10, 5)
