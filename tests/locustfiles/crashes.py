"""A locustfile whose process dies 3 s into the load (a crash the harness must explain)."""

import os
import time

from locust import HttpUser, constant, task

START = time.time()


class Crasher(HttpUser):
    wait_time = constant(0.1)

    @task
    def go(self):
        self.client.get("/health")
        if time.time() - START > 4:
            print("crashing on purpose", flush=True)
            os._exit(7)
