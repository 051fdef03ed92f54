"""Drive the deadlines service through the real broker, read it through its RPCs and DB."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date

from kombu import Connection, Queue, binding
from nameko.standalone.rpc import ClusterRpcProxy

from shared.events import new_event
from shared.topology import EVENTS
from tests.support.bus import publish

ALERT_TYPES = ("deadline.approaching", "deadline.due", "deadline.breached", "deadline.met")


class Case:
    """One synthetic case: a reference, a school and its events, published for real."""

    def __init__(self, amqp_uri: str, la_code: str, school_urn: str = "300001"):
        self.amqp_uri = amqp_uri
        self.la_code = la_code
        self.school_urn = school_urn
        self.id = str(uuid.uuid4())
        self.reference = f"{la_code}-T-{self.id[:8]}"
        self.published: set[str] = set()  # ids of the history events sent

    def _ref(self) -> dict:
        return {"case_id": self.id, "reference": self.reference, "school_urn": self.school_urn}

    def received(self, on: date) -> dict:
        event = new_event("referral.received", {**self._ref(), "received_on": on,
                                                "requested_by": "school"}, la_code=self.la_code)
        publish(self.amqp_uri, event)
        self.published.add(event["id"])
        return event

    def step(self, step_type: str, on: date, data: dict | None = None,
             corrects: str | None = None) -> dict:
        event = new_event("case.step_recorded", {
            **self._ref(), "step_id": uuid.uuid4(), "step_type": step_type, "on": on,
            "data": data or {}, "corrects": corrects}, la_code=self.la_code)
        publish(self.amqp_uri, event)
        self.published.add(str(event["payload"]["step_id"]))
        return event


    def correction(self, step_type: str, on: date, corrects: str,
                   data: dict | None = None) -> dict:
        """A case.step_recorded correcting an earlier version (the request's or a step's
        id), as the referrals service sends it."""
        return self.step(step_type, on, data, corrects=corrects)

    def imported(self, received_on: date, steps: list[tuple[str, date, dict]]) -> dict:
        """The case as `ehcp import` brings it in: its request and steps in one event."""
        event = new_event("case.imported", {
            **self._ref(), "received_on": received_on, "requested_by": "school",
            "steps": [{"step_id": uuid.uuid4(), "step_type": step_type, "on": on,
                       "data": data} for step_type, on, data in steps]},
            la_code=self.la_code)
        publish(self.amqp_uri, event)
        self.published |= {event["id"], *(str(s["step_id"]) for s in event["payload"]["steps"])}
        return event


@contextmanager
def rpc(amqp_uri: str):
    with ClusterRpcProxy({"AMQP_URI": amqp_uri, "SERIALIZER": "json"}, timeout=10) as proxy:
        yield proxy.deadlines


class AlertTap:
    """A private queue bound to the alert events: what really reached the broker."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.name = f"test.deadline-alerts.{uuid.uuid4().hex[:8]}"
        self.queue = Queue(self.name, bindings=[binding(EVENTS, routing_key=t)
                                                for t in ALERT_TYPES], durable=False)
        self.seen: list[dict] = []
        with Connection(amqp_uri) as conn:
            self.queue.bind(conn.channel()).declare()

    def drain(self) -> list[dict]:
        import json

        with Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            while (message := channel.basic_get(self.name, no_ack=True)) is not None:
                self.seen.append(json.loads(message.body))
        return self.seen

    def of_case(self, case_id: str) -> list[dict]:
        return [e for e in self.drain() if e["payload"]["case_id"] == case_id]

    def delete(self) -> None:
        with Connection(self.amqp_uri) as conn:
            self.queue.bind(conn.channel()).delete()


def emitted(db, case_id: str) -> list[dict]:
    return db.execute("SELECT milestone, rule, kind, send_on FROM alerts_emitted "
                      "WHERE case_id = %s ORDER BY send_on, kind", (case_id,)).fetchall()


def settled(db, case: Case) -> bool:
    """Every event published for the case is in its stored history (events are handled
    concurrently, so the last one published is not necessarily the last one applied)."""
    return db.execute("SELECT count(*) AS c FROM case_events WHERE case_id = %s",
                      (case.id,)).fetchone()["c"] == len(case.published)


def milestones(db, case_id: str) -> dict[str, dict]:
    rows = db.execute("SELECT * FROM milestones WHERE case_id = %s", (case_id,)).fetchall()
    return {r["rule"]: r for r in rows}
