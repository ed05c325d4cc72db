from locust import HttpUser, LoadTestShape, constant, task


class Prober(HttpUser):
    wait_time = constant(1)

    @task
    def health(self):
        self.client.get("/health")


class Steps(LoadTestShape):
    def tick(self):
        return (5, 5) if self.get_run_time() < 6 else None
