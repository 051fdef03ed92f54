"""Chaos: the broker stopped and reset, the database stopped, each service kill -9'd, all
under a stream of requests and steps. After each fault, with no service restarted except
the one killed: every acknowledged request has its deadlines, every alert and webhook is
there once, nothing is left in a dead-letter queue, and no request got a 500."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from tests.chaos.conftest import LA, REPORT, URN
from tests.support.api import Api, referral_body, token
from tests.support.bus import drain, publish
from tests.support.processes import SERVICES, wait_for

pytestmark = pytest.mark.chaos

# Plus the stop and the start themselves (a broker node takes 10-40 s to boot): short, so
# the suite stays within minutes, but every outage is a real stop and start.
OUTAGE_SECONDS = 8


class Load:
    """Two clients: a school submitting requests and a caseworker recording the decision
    to assess on each acknowledged one. Every answer is kept; retries reuse the
    Idempotency-Key, as a careful client would."""

    def __init__(self, url: str):
        self.school = Api(url, token("school", school_urn=URN))
        self.caseworker = Api(url, token("la_caseworker", la_code=LA, sub="cw-chaos"))
        self.statuses: Counter = Counter()
        self.slowest_503 = 0.0  # seconds: how fast the gateway says "unavailable"
        self.cases: list[str] = []  # acknowledged (201)
        self.steps: set[str] = set()  # cases whose decision step was acknowledged
        self.tried = 0
        self._todo: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._submit, daemon=True),
                         threading.Thread(target=self._step, daemon=True)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _post(self, api: Api, path: str, body: dict, key: str) -> requests.Response | None:
        started = time.monotonic()
        try:
            response = requests.post(api.base_url + path, json=body, timeout=15, headers={
                "Authorization": f"Bearer {api.bearer}", "Idempotency-Key": key})
        except requests.RequestException:
            self.statuses[0] += 1  # no answer at all
            return None
        self.statuses[response.status_code] += 1
        if response.status_code == 503:
            self.slowest_503 = max(self.slowest_503, time.monotonic() - started)
        return response

    def _submit(self) -> None:
        while not self._stop.is_set():
            key, status = str(uuid.uuid4()), None
            while status != 201 and not self._stop.is_set():
                self.tried += 1
                response_id = self._submit_once(key)
                status = 201 if response_id else None
                if response_id:
                    self.cases.append(response_id)
                    self._todo.put(response_id)
                else:
                    time.sleep(0.3)
            time.sleep(0.05)

    def _submit_once(self, key: str) -> str | None:
        r = self._post(self.school, "/v1/referrals", referral_body(LA, URN), key)
        return r.json()["id"] if r is not None and r.status_code == 201 else None

    def _step(self) -> None:
        while not self._stop.is_set():
            try:
                case_id = self._todo.get(timeout=0.2)
            except queue.Empty:
                continue
            self.tried += 1
            r = self._post(self.caseworker, f"/v1/referrals/{case_id}/events",
                           {"type": "decision_to_assess", "on": "2026-02-10",
                            "outcome": "assess"}, key=f"decide-{case_id}")
            if r is not None and r.status_code == 201:
                self.steps.add(case_id)
            else:
                self._todo.put(case_id)
                time.sleep(0.3)


def db(lab, schema: str) -> psycopg.Connection:
    return psycopg.connect(lab.infra.database_url, autocommit=True, row_factory=dict_row,
                           options=f"-c search_path={schema}")


def first_success(lab, started: float, timeout: float = 90) -> float:
    """Seconds from `started` until the gateway is ready and a new request is acknowledged."""
    school = Api(lab.system.url, token("school", school_urn=URN))

    def ok():
        if requests.get(lab.system.url + "/readyz", timeout=5).status_code != 200:
            return False
        return school.post("/v1/referrals", referral_body(LA, URN)).status_code == 201
    wait_for(ok, timeout=timeout, interval=0.2)
    return round(time.monotonic() - started, 1)


def alive(lab) -> dict[str, int | None]:
    return {name: proc.proc.returncode if proc.proc.poll() is not None else None
            for name, proc in lab.system.services.items()}


@pytest.fixture(scope="module")
def baseline(lab):
    """What one request yields (inbox alerts, webhooks), from a request made before any
    fault: every request of the load is for the same school and dates."""
    school = Api(lab.system.url, token("school", school_urn=URN))
    case_id = school.post("/v1/referrals", referral_body(LA, URN)).json()["id"]

    def arrived():
        got = outcome(lab, [case_id])
        return got if got["alerts"][case_id] and got["webhooks"][case_id] else None
    expected = wait_for(arrived, timeout=20, interval=0.2)
    time.sleep(1)  # room for a second (wrong) copy
    expected = outcome(lab, [case_id])
    return {"alerts": expected["alerts"][case_id], "webhooks": expected["webhooks"][case_id]}


def outcome(lab, case_ids: list[str]) -> dict:
    with db(lab, "notifications") as conn:
        alerts = Counter(r["case_id"] for r in conn.execute(
            "SELECT case_id::text FROM alerts WHERE case_id = ANY(%s::uuid[])",
            (case_ids,)))
        delivery_case = {r["id"]: r["case_id"] for r in conn.execute(
            "SELECT id::text, case_id::text FROM deliveries WHERE channel = 'webhook' "
            "AND case_id = ANY(%s::uuid[])", (case_ids,))}
    received = Counter(r["headers"]["webhook-id"].removeprefix("msg_")
                       for r in lab.receiver.at("/school") if r["verified"])
    webhooks = Counter(delivery_case[d] for d in received if d in delivery_case)
    wire_copies = sum(n - 1 for d, n in received.items() if d in delivery_case and n > 1)
    return {"alerts": alerts, "webhooks": webhooks, "wire_copies": wire_copies}


def settled(lab, load: Load, baseline: dict, fault: str, recover_s: float,
            outage_s: float) -> None:
    """Wait until everything acknowledged has flowed through, then check and record it."""
    assert alive(lab) == {s: None for s in SERVICES}, alive(lab)
    assert not [s for s in load.statuses if s >= 500 and s != 503], load.statuses
    cases = list(load.cases)
    stepped = list(load.steps)

    def caught_up():
        with db(lab, "referrals") as conn:
            behind = conn.execute(
                "SELECT count(*) AS n FROM cases WHERE id = ANY(%s::uuid[]) "
                "AND cardinality(deadlines_pending) > 0", (cases,)).fetchone()["n"]
        with db(lab, "deadlines") as conn:
            scheduled = conn.execute(
                "SELECT count(DISTINCT case_id) AS n FROM milestones "
                "WHERE case_id = ANY(%s::uuid[])", (cases,)).fetchone()["n"]
            decided = conn.execute(
                "SELECT count(*) AS n FROM milestones WHERE case_id = ANY(%s::uuid[]) "
                "AND milestone = 'decision_to_assess' AND status = 'met'",
                (stepped,)).fetchone()["n"]
        got = outcome(lab, cases)
        done = (behind == 0 and scheduled == len(cases) and decided == len(stepped)
                and all(got["alerts"][c] >= baseline["alerts"] for c in cases)
                and all(got["webhooks"][c] >= baseline["webhooks"] for c in cases))
        return got if done else None

    try:
        got = wait_for(caught_up, timeout=60, interval=0.5)
    except AssertionError:
        got = outcome(lab, cases)
    lost = sum(1 for c in cases if got["alerts"][c] < baseline["alerts"]
               or got["webhooks"][c] < baseline["webhooks"])
    duplicated = sum(1 for c in cases if got["alerts"][c] > baseline["alerts"]
                     or got["webhooks"][c] > baseline["webhooks"])
    dead = {q: n for q, n in lab.broker.queue_counts().items() if q.endswith(".dlq") and n}
    REPORT.append({"fault": fault, "tried": load.tried, "held": len(cases) + len(stepped),
                   "lost": lost, "duplicated": f"{duplicated} (+{got['wire_copies']} same-id "
                                               "webhook copies)",
                   "recover_s": recover_s, "outage_s": round(outage_s, 1),
                   "slowest_503_s": round(load.slowest_503, 2),
                   "statuses": dict(sorted(load.statuses.items()))})
    assert lost == 0 and duplicated == 0, REPORT[-1]
    assert dead == {}, dead
    assert cases and stepped, load.statuses  # the load really ran


def test_broker_stopped_under_load(lab, baseline):
    """The whole node stopped and started again (its boot adds to the outage)."""
    with Load(lab.system.url) as load:
        time.sleep(2)
        down = time.monotonic()
        lab.broker.stop()
        time.sleep(OUTAGE_SECONDS)
        assert requests.get(lab.system.url + "/readyz", timeout=10).status_code == 503
        lab.broker.start()
        back = time.monotonic()
        recover = first_success(lab, back)
        time.sleep(2)
    settled(lab, load, baseline, "broker node stopped", recover, back - down)


def test_broker_reset_loses_all_state(lab, baseline):
    """stop_app, reset, start_app: every queue, exchange and message is gone."""
    with Load(lab.system.url) as load:
        time.sleep(2)
        down = time.monotonic()
        lab.broker.reset()
        back = time.monotonic()
        recover = first_success(lab, back)
        time.sleep(2)
    counts = lab.broker.queue_counts()
    for consumer in ("deadlines", "notifications", "referrals"):  # all of it came back
        assert {f"{consumer}.events", f"{consumer}.events.dlq",
                *(f"{consumer}.events.retry.{n}" for n in range(1, 6))} <= set(counts)
    # ehcp.dlx came back too: a poison message is dead-lettered once, never looped
    publish(lab.infra.amqp_uri, b"\x00poison", routing_key="referral.received")
    dead = wait_for(lambda: drain(lab.infra.amqp_uri, "deadlines.events.dlq"), timeout=20)
    assert len(dead) == 1 and dead[0][1]["x-error-kind"] == "undecodable", dead
    settled(lab, load, baseline, "broker reset (all state lost)", recover, back - down)


def test_database_stopped_under_load(lab, baseline):
    with Load(lab.system.url) as load:
        time.sleep(2)
        down = time.monotonic()
        lab.postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        assert requests.get(lab.system.url + "/readyz", timeout=10).status_code == 503
        lab.postgres.start()
        back = time.monotonic()
        recover = first_success(lab, back)
        time.sleep(2)
    settled(lab, load, baseline, "database stopped", recover, back - down)


def test_kill_9_each_service_in_turn(lab, baseline):
    """Each service kill -9'd and started again (a supervisor's job) while the others carry
    on, one after the other under the same stream of requests."""
    recovered, outages = {}, {}
    with Load(lab.system.url) as load:
        for victim in SERVICES:
            time.sleep(1.5)
            service = lab.system.services[victim]
            down = time.monotonic()
            service.kill()
            service.start()
            back = time.monotonic()
            outages[victim] = back - down
            recovered[victim] = first_success(lab, back)
        time.sleep(1.5)
    settled(lab, load, baseline, "kill -9 " + ", ".join(
        f"{v} (recovered {recovered[v]} s)" for v in SERVICES),
        max(recovered.values()), max(outages.values()))
