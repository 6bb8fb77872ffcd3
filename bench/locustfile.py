"""Load of bench/api.py: 20 clients calling similar-leads and scoring (locust, headless). The tenant, its key and
the leads to ask about come from the file named by LOOKALIKE_BENCH_TARGETS (written by bench/api.py)."""

import json
import os
import random

from locust import HttpUser, constant, constant_throughput, task

TARGETS = json.loads(open(os.environ["LOOKALIKE_BENCH_TARGETS"]).read())
RATE = float(os.environ.get("LOOKALIKE_BENCH_RATE", "1"))  # requests per second per client; 0: no pause


class Client(HttpUser):
    wait_time = constant_throughput(RATE) if RATE > 0 else constant(0)

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {TARGETS['key']}"}
        self.base = f"/v1/tenants/{TARGETS['tenant_id']}"

    @task(3)
    def similar(self):
        lead = random.choice(TARGETS["leads"])
        self.client.get(f"{self.base}/leads/{lead}/similar?k=10", headers=self.headers, name="similar")

    @task(1)
    def score(self):
        self.client.post(f"{self.base}/leads/score", json={"attributes": random.choice(TARGETS["attributes"])},
                         headers=self.headers, name="score")
