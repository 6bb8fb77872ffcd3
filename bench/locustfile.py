"""Load of bench/api.py: 20 clients calling similar-leads and scoring (locust, headless). The tenant, its key and
the leads to ask about come from the file named by LOOKALIKE_BENCH_TARGETS (written by bench/api.py).

LOOKALIKE_BENCH_ARRIVALS says when a client sends its next request:
- ``poisson`` (default): each client on its own, at random moments (exponential gaps with the mean 1/rate, from a
  random start), as independent applications call a service;
- ``lockstep``: every client once per 1/rate seconds, all at the same instant (locust starts them together and
  ``constant_throughput`` keeps them in phase): a burst of all the clients' requests at once, the worst case."""

import json
import os
import random

import gevent
from locust import HttpUser, constant, constant_throughput, task

TARGETS = json.loads(open(os.environ["LOOKALIKE_BENCH_TARGETS"]).read())
RATE = float(os.environ.get("LOOKALIKE_BENCH_RATE", "1"))  # requests per second per client; 0: no pause
ARRIVALS = os.environ.get("LOOKALIKE_BENCH_ARRIVALS", "poisson")
if ARRIVALS not in ("poisson", "lockstep"):
    raise SystemExit(f"LOOKALIKE_BENCH_ARRIVALS: poisson or lockstep, not {ARRIVALS!r}")


def poisson(_user) -> float:
    return random.expovariate(RATE)


class Client(HttpUser):
    wait_time = constant(0) if RATE <= 0 else constant_throughput(RATE) if ARRIVALS == "lockstep" else poisson

    def on_start(self):
        if RATE > 0 and ARRIVALS == "poisson":
            gevent.sleep(random.uniform(0, 1 / RATE))  # its own phase, not the moment locust started it
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
