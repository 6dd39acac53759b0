"""Two authenticated GETs of the demo target, alternately, every 0.1 s per user: the workload of
the regression gate's e2e test and of bench/bench_regression.py (one endpoint gets slowed)."""

from locust import FastHttpUser, constant, task


class U(FastHttpUser):
    wait_time = constant(0.1)

    def on_start(self) -> None:
        r = self.client.post("/api/auth/login", json={"username": "user0001", "password": "demo-password"})
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    @task
    def categories(self) -> None:
        self.client.get("/api/categories", headers=self.headers)

    @task
    def products(self) -> None:
        self.client.get("/api/products", headers=self.headers)
