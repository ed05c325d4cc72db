"""A locustfile as a team has it: nothing from the harness. Two weighted, tagged tasks."""

from locust import HttpUser, constant_throughput, tag, task


class Reader(HttpUser):
    wait_time = constant_throughput(1)

    @tag("read")
    @task(3)
    def list_documents(self):
        self.client.get("/api/v1/documents?limit=5", name="/api/v1/documents")

    @tag("probe")
    @task(1)
    def health(self):
        self.client.get("/health")
