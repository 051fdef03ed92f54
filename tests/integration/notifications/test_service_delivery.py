"""The notifications service end to end: real processes, broker and database, a real SMTP
server (aiosmtpd) and a real webhook receiver. Deadline events are published on the bus
as the deadlines service would; the service must deliver each alert once per channel."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, date, datetime

import pytest
import requests
from icalendar import Calendar

from shared.events import new_event
from tests.support.api import Api as BaseApi
from tests.support.api import token
from tests.support.bus import publish, referral_received
from tests.support.channels import Receiver, SmtpServer
from tests.support.infra import fresh_infra
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, System, wait_for

pytestmark = pytest.mark.e2e

LA = "905"
URN = "590001"
QUIET_URN = "590002"
SENCO, TEAM, MANAGERS, QUIET = ("senco@590001.example", "send-team@905.example",
                                "managers@905.example", "office@590002.example")
PII = ("Zebedee", "Quillfeather", "2014-03-09", "date_of_birth", "given_name")
DAY1 = "2026-05-20T06:00:00+01:00"  # before the 07:00 digest
DAY2 = "2026-05-21T07:30:00+01:00"  # the next morning, after the digest time
LATENCIES: dict[str, list[float]] = {"email": [], "webhook": []}


class Api(BaseApi):
    def patch(self, path: str, json=None) -> requests.Response:
        return requests.patch(self.base_url + path, json=json, headers=self._headers(),
                              timeout=15)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.base_url + path, headers=self._headers(), timeout=15)


@pytest.fixture(scope="module")
def infra():
    """A vhost and database of this module's own: cases left by other modules would
    otherwise fall due under this module's clock and flood the queues with their alerts."""
    with fresh_infra() as infra:
        yield infra


@pytest.fixture(scope="module")
def env(infra, tmp_path_factory):
    smtp = SmtpServer(delay=0.02).start()
    receiver = Receiver().start()
    extra = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
             "SMTP_FROM": "alerts@ehcp.example", "SMTP_TIMEOUT": "1", "WEBHOOK_TIMEOUT": "1",
             "NOTIFY_POLL_SECONDS": "0.1", "NOTIFY_RETRY_BASE_SECONDS": "0.2",
             "NOTIFY_RETRY_CAP_SECONDS": "0.5", "NOTIFY_MAX_ATTEMPTS": "40",
             "NOTIFY_LEASE_SECONDS": "3", "DIGEST_POLL_SECONDS": "0.2", "NOW": DAY1,
             "SWEEP_SECONDS": "0.5"}
    log_dir = tmp_path_factory.mktemp("logs")
    system = System(infra, log_dir, extra_env=extra).start()
    system.log_dir = log_dir
    yield system, smtp, receiver
    system.stop()
    smtp.stop()
    receiver.stop()
    for channel, values in LATENCIES.items():
        if values:
            print(f"\n{channel} delivery latency (event occurred_at -> receipt), n={len(values)}:"
                  f" median {statistics.median(values) * 1000:.0f} ms,"
                  f" max {max(values) * 1000:.0f} ms")


@pytest.fixture(scope="module")
def admin(env):
    return Api(env[0].url, token("region_admin"))


@pytest.fixture(scope="module")
def directory(env, admin):
    system, smtp, receiver = env
    manager = Api(system.url, token("la_manager", la_code=LA))

    def create(api, body):
        response = api.post("/v1/recipients", body)
        assert response.status_code == 201, response.text
        return response.json()

    school = create(admin, {"kind": "school", "la_code": LA, "school_urn": URN,
                            "name": "Synthetic Primary", "emails": [SENCO],
                            "channels": ["email", "webhook", "digest", "inbox"],
                            "webhook_url": receiver.url("/school")})
    receiver.secrets["/school"] = school.pop("webhook_secret")
    team = create(manager, {"kind": "la_team", "la_code": LA, "name": "SEND team",
                            "emails": [TEAM], "channels": ["email", "digest"]})
    managers = create(manager, {"kind": "la_manager", "la_code": LA, "name": "SEND managers",
                                "emails": [MANAGERS], "channels": ["email"]})
    quiet = create(admin, {"kind": "school", "la_code": LA, "school_urn": QUIET_URN,
                           "name": "Quiet Academy", "emails": [QUIET], "channels": ["digest"]})
    feed = admin.post(f"/v1/recipients/{school['id']}/calendar-secret")
    assert feed.status_code == 201, feed.text
    return {"school": school, "team": team, "managers": managers, "quiet": quiet,
            "feed": feed.json()}


def case(n: int) -> dict:
    return {"case_id": str(uuid.uuid4()), "reference": f"{LA}-2026-{n:05d}", "school_urn": URN}


def scheduled(c: dict) -> dict:
    return new_event("deadline.scheduled", {**c, "as_of_event": uuid.uuid4(), "milestones": [
        {"milestone": "decision_to_assess", "rule": "A1", "regulation": "5(1)",
         "due_on": date(2026, 2, 16), "status": "met", "met_on": date(2026, 2, 10)},
        {"milestone": "final_plan", "rule": "A6", "regulation": "13(2)",
         "due_on": date(2026, 5, 20), "status": "pending"},
        {"milestone": "annual_review", "rule": "R1", "regulation": "18",
         "due_on": date(2027, 5, 20), "status": "pending"}]}, la_code=LA)


def alert(kind: str, c: dict, milestone: str = "final_plan",
          due: date = date(2026, 5, 20)) -> dict:
    return new_event(f"deadline.{kind}", {**c, "kind": kind, "milestone": milestone,
                                          "rule": "A6", "regulation": "13(2)", "due_on": due},
                     la_code=LA)


def drained(infra) -> bool:
    with infra.connect("notifications") as conn:
        row = conn.execute("SELECT count(*) AS n FROM deliveries "
                           "WHERE status IN ('pending', 'sending')").fetchone()
    return row["n"] == 0


def of_case(messages: list[dict], reference: str) -> list[dict]:
    return [m for m in messages if reference in m["subject"]]


def hooks_of(receiver: Receiver, path: str, reference: str) -> list[dict]:
    return [r for r in receiver.at(path) if reference.encode() in r["body"]]


def assert_no_pii(raw: bytes | str) -> None:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    for needle in PII:
        assert needle.lower() not in text.lower()


def inbox(api: Api, case_id: str) -> list[dict]:
    response = api.get("/v1/alerts")
    assert response.status_code == 200, response.text
    return [a for a in response.json()["alerts"] if a["case_id"] == case_id]


def test_each_alert_arrives_once_per_channel(env, infra, directory):
    system, smtp, receiver = env
    c = case(1)
    events = [scheduled(c)] + [alert(k, c) for k in ("approaching", "due", "breached")]
    for event in events:
        publish(infra.amqp_uri, event)
        publish(infra.amqp_uri, event)  # a redelivery: the inbox drops it
    publish(infra.amqp_uri, alert("breached", c))  # same alert, new event id (a re-sweep)
    occurred = {e["type"].split(".")[1]: datetime.fromisoformat(e["occurred_at"])
                for e in events}

    ref = c["reference"]
    wait_for(lambda: len(of_case(smtp.sink.to(SENCO), ref)) >= 3
             and len(of_case(smtp.sink.to(TEAM), ref)) >= 3
             and of_case(smtp.sink.to(MANAGERS), ref)
             and len(hooks_of(receiver, "/school", ref)) >= 4)
    wait_for(lambda: drained(infra))

    senco = of_case(smtp.sink.to(SENCO), ref)
    assert sorted(m["subject"].split(":")[0] for m in senco) == ["Due soon", "Due today",
                                                                 "Overdue"]
    assert len(of_case(smtp.sink.to(TEAM), ref)) == 3
    [escalation] = of_case(smtp.sink.to(MANAGERS), ref)  # a breach escalates, only a breach
    assert escalation["subject"].startswith("Overdue: Final EHC plan (20 weeks)")
    for m in senco + [escalation]:
        assert_no_pii(m["raw"])
        assert m["msg"].get_body(("html",)) is not None
        kind = {"Due soon": "approaching", "Due today": "due", "Overdue": "breached"}[
            m["subject"].split(":")[0]]
        LATENCIES["email"].append(m["received"] - occurred[kind].timestamp())

    hooks = hooks_of(receiver, "/school", ref)
    assert len(hooks) == 4 and all(h["verified"] for h in hooks)
    assert len({h["headers"]["webhook-id"] for h in hooks}) == 4
    for h in hooks:
        assert_no_pii(h["body"])
        kind = h["body"].decode().split('"kind":"')[1].split('"')[0]
        LATENCIES["webhook"].append(h["received"] - occurred[kind].timestamp())

    school = Api(system.url, token("school", school_urn=URN))
    assert sorted(a["kind"] for a in inbox(school, c["case_id"])) == [
        "approaching", "breached", "due", "scheduled"]
    la = Api(system.url, token("la_caseworker", la_code=LA))
    assert len(inbox(la, c["case_id"])) == 4

    ics = requests.get(directory["feed"]["calendar_url"], timeout=5)
    assert ics.status_code == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    assert_no_pii(ics.content)
    events_in_feed = [e for e in Calendar.from_ical(ics.content).walk("VEVENT")
                      if ref in str(e["summary"])]
    # the met milestone is gone; the overdue plan and next year's review are listed
    assert sorted((str(e["summary"]), e.decoded("dtstart")) for e in events_in_feed) == [
        (f"{ref}: Annual review meeting (12 months)", date(2027, 5, 20)),
        (f"{ref}: Final EHC plan (20 weeks)", date(2026, 5, 20))]

    metrics = system.metrics("notification_senders")
    assert 'ehcp_notification_deliveries_total{channel="email",outcome="sent"}' in metrics
    assert "ehcp_notification_delivery_latency_seconds_bucket" in metrics


def test_digest_next_morning_once_per_recipient(env, infra, directory):
    system, smtp, _ = env
    senders = system.services["notification_senders"]  # the process that sends digests
    senders.stop()
    senders.start(extra_env={"NOW": DAY2})
    subject = "EHC deadlines digest for Thursday 21 May 2026"
    wait_for(lambda: [m for m in smtp.sink.to(SENCO) if m["subject"].startswith(subject)]
             and [m for m in smtp.sink.to(TEAM) if m["subject"].startswith(subject)])
    senders.stop()  # a restart the same morning sends nothing more
    senders.start(extra_env={"NOW": DAY2})
    with infra.connect("notifications") as conn:
        wait_for(lambda: conn.execute("SELECT count(*) AS n FROM digest_runs WHERE "
                                      "on_date = '2026-05-21'").fetchone()["n"] == 3)
        runs = {str(r["recipient_id"]): r["outcome"] for r in conn.execute(
            "SELECT * FROM digest_runs WHERE on_date = '2026-05-21'")}
    wait_for(lambda: drained(infra))
    assert runs == {directory["school"]["id"]: "queued", directory["team"]["id"]: "queued",
                    directory["quiet"]["id"]: "empty"}  # nothing to say: no email
    [digest] = [m for m in smtp.sink.to(SENCO) if m["subject"].startswith(subject)]
    assert len([m for m in smtp.sink.to(TEAM) if m["subject"].startswith(subject)]) == 1
    assert smtp.sink.to(QUIET) == []
    text = digest["msg"].get_body(("plain",)).get_content()
    assert "Overdue (1)" in text and f"{LA}-2026-00001: Final EHC plan (20 weeks)" in text
    assert_no_pii(digest["raw"])
    assert "ehcp_notification_digest_runs_total" in system.metrics("notification_senders")


def test_kill_minus_9_and_a_second_instance_lose_nothing_and_duplicate_nothing(
        env, infra, directory):
    system, smtp, receiver = env
    # a second instance of both notifications processes: the consumer and the senders
    second_env = {**system.env, "NOTIFICATIONS_METRICS_PORT": str(free_port()),
                  "NOTIFICATION_SENDERS_METRICS_PORT": str(free_port())}
    second = [ServiceProcess("services.notifications", "notifications-2", second_env,
                             system.log_dir).start(),
              ServiceProcess("services.notifications.senders", "notification_senders-2",
                             second_env, system.log_dir).start(extra_env={"NOW": DAY2})]
    try:
        cases = [case(100 + n) for n in range(20)]
        for c in cases:
            publish(infra.amqp_uri, alert("approaching", c, due=date(2026, 6, 1)))
        first = system.services["notifications"]
        first_senders = system.services["notification_senders"]
        wait_for(lambda: len(smtp.sink.to(SENCO)) >= 6 and
                 any(c["reference"] in m["subject"] for c in cases
                     for m in smtp.sink.to(SENCO)), interval=0.01)
        # SIGKILL mid-run: claimed rows stay 'sending' until their lease ends
        first_senders.kill()
        first.kill()
        first_senders.start(extra_env={"NOW": DAY2})
        first.start()
        refs = {c["reference"] for c in cases}
        wait_for(lambda: drained(infra), timeout=30)

        mails = [m for m in smtp.sink.to(SENCO)
                 if any(r in m["subject"] for r in refs)]
        by_id: dict[str, set[str]] = {}
        for m in mails:
            by_id.setdefault(m["message_id"], set()).add(m["subject"])
        # every alert arrived, each under one Message-ID; a resend after a crash between
        # send and commit reuses the id, so the mail system shows it once
        assert len(by_id) == len(cases)
        assert all(len(subjects) == 1 for subjects in by_id.values())
        assert {next(iter(s)).split("case ")[1].split(" ")[0] for s in by_id.values()} == refs
        hooks = [h for h in receiver.at("/school") if any(r.encode() in h["body"] for r in refs)]
        assert len({h["headers"]["webhook-id"] for h in hooks}) == len(cases)
        print(f"\nkill -9: {len(mails) - len(by_id)} email(s) and "
              f"{len(hooks) - len(cases)} webhook(s) resent with the same id")
        school = Api(system.url, token("school", school_urn=URN))
        for c in cases:
            assert len(inbox(school, c["case_id"])) == 1
    finally:
        for proc in second:
            proc.stop()


def test_smtp_down_delays_email_only_and_nothing_is_lost(env, infra, directory):
    system, smtp, receiver = env
    smtp.stop()
    c = case(200)
    started = datetime.now(UTC)
    publish(infra.amqp_uri, alert("breached", c))
    school = Api(system.url, token("school", school_urn=URN))
    wait_for(lambda: inbox(school, c["case_id"]) and hooks_of(receiver, "/school",
                                                             c["reference"]))
    wait_for(lambda: 'ehcp_notification_retries_total{channel="email"}' in
             system.metrics("notification_senders"))
    assert of_case(smtp.sink.to(SENCO), c["reference"]) == []
    smtp.start()  # the server returns on the same port: the queued emails go out
    wait_for(lambda: of_case(smtp.sink.to(SENCO), c["reference"]) and drained(infra))
    assert len(of_case(smtp.sink.to(SENCO), c["reference"])) == 1
    assert len(of_case(smtp.sink.to(MANAGERS), c["reference"])) == 1
    print(f"\nemail after SMTP outage delivered "
          f"{(datetime.now(UTC) - started).total_seconds():.1f} s after the event")


def test_permanent_failure_is_dead_lettered_and_can_be_retried(env, infra, admin, directory):
    system, smtp, receiver = env
    created = admin.post("/v1/recipients", {
        "kind": "la_team", "la_code": LA, "name": "Case management system",
        "channels": ["webhook"], "webhook_url": receiver.url("/gone")}).json()
    receiver.secrets["/gone"] = created["webhook_secret"]
    receiver.script["/gone"] = [410]
    c = case(300)
    publish(infra.amqp_uri, alert("due", c))

    def failed():
        rows = admin.get("/v1/deliveries", params={"status": "failed"}).json()["deliveries"]
        return [d for d in rows if d["case_id"] == c["case_id"]]

    [dead] = wait_for(failed)
    assert dead["channel"] == "webhook" and "410" in dead["last_error"]
    assert of_case(smtp.sink.to(SENCO), c["reference"]) or wait_for(
        lambda: of_case(smtp.sink.to(SENCO), c["reference"]))  # other channels unaffected
    assert 'ehcp_notification_dead_letters_total{channel="webhook"}' in \
        system.metrics("notification_senders")
    assert admin.post(f"/v1/deliveries/{dead['id']}/retry").status_code == 200
    wait_for(lambda: [h for h in hooks_of(receiver, "/gone", c["reference"])
                      if h["verified"]][1:])  # the 410, then the accepted retry
    wait_for(lambda: drained(infra))
    assert failed() == []


def test_directory_permissions_validation_and_revocation(env, admin, directory):
    system = env[0]
    school = Api(system.url, token("school", school_urn=URN))
    other_la = Api(system.url, token("la_manager", la_code="906"))
    own_la = Api(system.url, token("la_manager", la_code=LA))
    body = {"kind": "la_team", "la_code": LA, "name": "Team", "channels": ["inbox"]}
    assert school.get("/v1/recipients").status_code == 403
    assert school.post("/v1/recipients", body).status_code == 403
    assert other_la.post("/v1/recipients", body).status_code == 403
    assert other_la.get("/v1/recipients").json()["recipients"] == []
    rid = directory["team"]["id"]
    assert other_la.get(f"/v1/recipients/{rid}").status_code == 404
    assert own_la.get(f"/v1/recipients/{rid}").json()["name"] == "SEND team"
    assert own_la.get("/v1/recipients/not-a-uuid").status_code == 404

    bad = admin.post("/v1/recipients", {"kind": "school", "la_code": "9x", "name": "X",
                                        "channels": ["email"]})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"la_code"}
    bad = admin.post("/v1/recipients", {"kind": "school", "la_code": LA, "name": "X",
                                        "channels": ["email"]})
    assert {e["field"] for e in bad.json()["errors"]} == {"school_urn", "emails"}

    patched = own_la.patch(f"/v1/recipients/{rid}", {"muted_kinds": ["approaching"]})
    assert patched.status_code == 200 and patched.json()["muted_kinds"] == ["approaching"]
    assert "webhook_secret" not in patched.json()
    assert own_la.patch(f"/v1/recipients/{rid}", {"channels": ["webhook"]}).status_code == 422

    feed_url = directory["feed"]["calendar_url"]
    sid = directory["school"]["id"]
    assert requests.get(feed_url.replace(".ics", "x.ics"), timeout=5).status_code == 404
    assert admin.delete(f"/v1/recipients/{sid}/calendar-secret").status_code == 204
    assert requests.get(feed_url, timeout=5).status_code == 404

    assert school.post("/v1/alerts/not-a-uuid/read").status_code == 404
    temp = admin.post("/v1/recipients", body).json()
    assert admin.delete(f"/v1/recipients/{temp['id']}").status_code == 204
    assert admin.get(f"/v1/recipients/{temp['id']}").status_code == 404


def test_real_deadlines_flow_with_the_clock_moved_forward(env, infra, admin):
    """A request received on 5 January; the deadlines service's clock then moves to 17
    February, the day after the 6-week decision was due: its sweep emits the decision's
    alerts, which reach the school's SENCo once each, by email and in the inbox."""
    system, smtp, _ = env
    deadlines = system.services["deadlines"]
    senco = "senco@590007.example"
    created = admin.post("/v1/recipients", {
        "kind": "school", "la_code": "907", "school_urn": "590007", "name": "Flow School",
        "emails": [senco], "channels": ["email"]})
    assert created.status_code == 201, created.text
    school = Api(system.url, token("school", school_urn="590007"))
    event = referral_received("907-2026-00007", school_urn="590007", la_code="907",
                              received_on=date(2026, 1, 5))
    case_id = str(event["payload"]["case_id"])
    deadlines.stop()
    deadlines.start(extra_env={"NOW": "2026-01-05"})
    try:
        publish(infra.amqp_uri, event)
        publish(infra.amqp_uri, event)
        wait_for(lambda: inbox(school, case_id))  # scheduled: the clock has started
        deadlines.stop()
        deadlines.start(extra_env={"NOW": "2026-02-17"})
        overdue = "Overdue: Decision whether to assess (6 weeks) for case 907-2026-00007"
        wait_for(lambda: any(m["subject"].startswith(overdue) for m in smtp.sink.to(senco)),
                 timeout=30)
        wait_for(lambda: drained(infra))
    finally:
        deadlines.stop()
        deadlines.start()
    subjects = [m["subject"] for m in smtp.sink.to(senco)]
    assert len(subjects) == len(set(subjects))  # each alert once
    assert len([s for s in subjects if s.startswith(overdue)]) == 1
    kinds = [a["kind"] for a in inbox(school, case_id) if a["milestone"] == "decision_to_assess"]
    assert kinds.count("breached") == 1
    print(f"\nreal flow emails: {subjects}")
