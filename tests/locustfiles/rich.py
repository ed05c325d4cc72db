"""A locustfile with what teams use: two user classes with weights (HttpUser and
FastHttpUser), an on_start login, @task weights, a TaskSet with its own wait_time, and a task
that makes two requests, a set-up at the test's start that takes its time. Nothing from the
harness."""

import time

from locust import FastHttpUser, HttpUser, TaskSet, between, constant, events, task


@events.test_start.add_listener
def seed(environment, **_kw):
    time.sleep(1.5)  # fixtures made before the load, blocking (Locust's clock already runs)


class Browse(TaskSet):
    wait_time = constant(5)  # replaced by the schedule in the open model

    @task(2)
    def search(self):
        self.client.get("/api/v1/documents/search?q=deploy", name="/api/v1/documents/search")

    @task(1)
    def done(self):
        self.interrupt(reschedule=False)


class Reader(HttpUser):
    weight = 3
    wait_time = between(1, 2)

    def on_start(self):
        self.client.get("/api/v1/users/me", name="login", headers={"X-User-Id": "user-7"})

    def list_then_health(self):  # two requests, one task start
        self.client.get("/api/v1/documents?limit=5", name="/api/v1/documents")
        self.client.get("/health", name="/health")

    tasks = {Browse: 1, list_then_health: 2}


class Prober(FastHttpUser):
    weight = 1
    wait_time = constant(1)

    @task
    def read_first(self):
        self.client.get("/api/v1/documents/1", name="/api/v1/documents/{id}")
