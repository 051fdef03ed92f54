"""A test-only service on the shared consumer: it fails on purpose for references that
contain FAIL, so the retry and dead-letter path runs against the real broker.

Run as a process: `python -m tests.support.flaky_service`."""

from shared.green import patch

patch()

from shared import topology  # noqa: E402

topology.SUBSCRIPTIONS["flaky"] = ("referral.received",)

from nameko.rpc import rpc  # noqa: E402

from shared.consumer import event_consumer, handle_batch, one_by_one  # noqa: E402
from shared.service import Storage, run  # noqa: E402


def record(uow, event):
    reference = event["payload"]["reference"]
    if "FAIL" in reference:
        raise RuntimeError(f"synthetic failure for {reference}")
    uow.execute("CREATE TABLE IF NOT EXISTS processed (event_id uuid PRIMARY KEY, reference text)")
    uow.execute("INSERT INTO processed VALUES (%s, %s)", (event["id"], reference))


class FlakyService:
    name = "flaky"
    db = Storage(relay=False)

    @event_consumer("flaky")
    def handle_events(self, events):
        handle_batch(self.db, "flaky", events, one_by_one(record))

    @rpc
    def ping(self):
        return "pong"


if __name__ == "__main__":
    run(FlakyService)
