import base64
import random
from typing import Any

import pytest
import requests

from services.notifications import webhooks
from services.notifications.webhooks import (
    DeliveryFailed,
    WebhookVerificationError,
    backoff_delay,
    sign,
    verify,
)

# Published test vector of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# Our own vector, computed outside the code under test with
#   printf '%s' 'msg_2f1c7a.1779667200.{"type":"deadline.due"}' \
#     | openssl dgst -sha256 -hmac 'ehcp-tracker-synthetic-key-32byt' -binary | base64
OWN_KEY = b"ehcp-tracker-synthetic-key-32byt"
OWN_SECRET = "whsec_" + base64.b64encode(OWN_KEY).decode()
OWN_ID = "msg_2f1c7a"
OWN_TS = 1779667200
OWN_BODY = b'{"type":"deadline.due"}'
OWN_SIG = "v1,wIZEbbHqGBmupMznswSBq6B40YK3tJUF80zaWfjxSfM="


def headers(msg_id: str = OWN_ID, ts: int = OWN_TS, sig: str = OWN_SIG) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


def test_spec_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG
    verify(SPEC_SECRET, headers(SPEC_ID, SPEC_TS, SPEC_SIG), SPEC_BODY, now=SPEC_TS)


def test_own_hand_computed_vector() -> None:
    assert OWN_SECRET == "whsec_ZWhjcC10cmFja2VyLXN5bnRoZXRpYy1rZXktMzJieXQ="
    assert sign(OWN_SECRET, OWN_ID, OWN_TS, OWN_BODY) == OWN_SIG
    # The same key given as raw bytes, and the body as str, sign identically.
    assert sign(OWN_KEY, OWN_ID, OWN_TS, OWN_BODY.decode()) == OWN_SIG


def test_verify_accepts_within_tolerance_and_any_header_case() -> None:
    mixed = {"Webhook-Id": OWN_ID, "WEBHOOK-TIMESTAMP": str(OWN_TS),
             "webhook-signature": OWN_SIG}
    verify(OWN_SECRET, mixed, OWN_BODY, now=OWN_TS + 299)
    verify(OWN_SECRET, mixed, OWN_BODY, now=OWN_TS - 299)


def test_verify_accepts_one_of_several_signatures() -> None:
    rotated = f"v1,{base64.b64encode(b'x' * 32).decode()} v2,abc {OWN_SIG}"
    verify(OWN_SECRET, headers(sig=rotated), OWN_BODY, now=OWN_TS)


@pytest.mark.parametrize(
    ("hdrs", "body", "secret"),
    [
        (headers(), OWN_BODY + b" ", OWN_SECRET),  # body tampered
        (headers(), b'{"type":"deadline.met"}', OWN_SECRET),
        (headers(msg_id="msg_other"), OWN_BODY, OWN_SECRET),  # id tampered
        (headers(ts=OWN_TS + 1), OWN_BODY, OWN_SECRET),  # timestamp tampered
        (headers(sig="v1," + "A" * 44), OWN_BODY, OWN_SECRET),  # signature forged
        (headers(sig=OWN_SIG.replace("v1,", "v2,")), OWN_BODY, OWN_SECRET),  # wrong version
        (headers(), OWN_BODY, webhooks.new_secret()),  # wrong secret
        ({"webhook-id": OWN_ID, "webhook-timestamp": str(OWN_TS)}, OWN_BODY, OWN_SECRET),
        (headers() | {"webhook-timestamp": "yesterday"}, OWN_BODY, OWN_SECRET),
    ],
)
def test_verify_rejects_tampering(hdrs: dict[str, str], body: bytes, secret: str) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(secret, hdrs, body, now=OWN_TS)


def test_verify_rejects_expired_and_future_timestamps() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(OWN_SECRET, headers(), OWN_BODY, now=OWN_TS + 301)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify(OWN_SECRET, headers(), OWN_BODY, now=OWN_TS - 301)
    with pytest.raises(WebhookVerificationError):
        verify(OWN_SECRET, headers(), OWN_BODY, now=OWN_TS + 61, tolerance=60)


def test_signed_headers_and_new_secret() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret != webhooks.new_secret()
    h = webhooks.signed_headers(OWN_SECRET, OWN_ID, OWN_BODY, timestamp=OWN_TS)
    assert h == headers()


def test_secret_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError):
        sign("whsec_not base64!", OWN_ID, OWN_TS, OWN_BODY)


# --- backoff -----------------------------------------------------------------------

def test_backoff_stays_within_exponential_bounds() -> None:
    rng = random.Random(5)
    for attempt in range(12):
        ceiling = min(60.0, 0.5 * 2 ** attempt)
        samples = [backoff_delay(attempt, 0.5, 60.0, rng) for _ in range(300)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: the samples spread over the whole range, not just near the ceiling.
        assert min(samples) < 0.1 * ceiling and max(samples) > 0.9 * ceiling


def test_backoff_is_capped_and_survives_huge_attempts() -> None:
    rng = random.Random(1)
    assert all(backoff_delay(a, 1.0, 30.0, rng) <= 30.0 for a in (5, 10, 100, 10_000))


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    a = [backoff_delay(i, 1.0, 100.0, random.Random(42)) for i in range(6)]
    b = [backoff_delay(i, 1.0, 100.0, random.Random(42)) for i in range(6)]
    assert a == b


@pytest.mark.parametrize(("attempt", "base", "cap"), [(-1, 1.0, 10.0), (0, 0.0, 10.0),
                                                      (0, 1.0, 0.0)])
def test_backoff_rejects_bad_arguments(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(attempt, base, cap)


# --- deliver: classification of outcomes (no network; the real HTTP receiver is in the
# integration tests) -------------------------------------------------------------------

class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}

    def close(self) -> None:
        pass


class FakeSession:
    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append({"url": url, **kwargs})
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return FakeResponse(*outcome) if isinstance(outcome, tuple) else FakeResponse(outcome)


def _deliver(session: FakeSession) -> int:
    return webhooks.deliver("https://receiver.example/hook", OWN_SECRET, OWN_ID, OWN_BODY,
                            timeout=2.0, session=session)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [200, 202, 204])
def test_deliver_success_returns_status_and_signs(status: int) -> None:
    session = FakeSession(status)
    assert _deliver(session) == status
    call = session.calls[0]
    assert call["data"] == OWN_BODY and call["timeout"] == 2.0
    assert call["allow_redirects"] is False
    verify(OWN_SECRET, call["headers"], OWN_BODY)


@pytest.mark.parametrize(
    ("outcome", "retryable"),
    [
        (500, True), (502, True), (503, True), (429, True), (408, True),
        (400, False), (401, False), (404, False), (410, False), (301, False),
        (requests.ConnectTimeout("slow"), True),
        (requests.ReadTimeout("slow"), True),
        (requests.ConnectionError("refused"), True),
        (requests.exceptions.InvalidURL("bad"), False),
    ],
)
def test_deliver_failure_classification(outcome: Any, retryable: bool) -> None:
    with pytest.raises(DeliveryFailed) as info:
        _deliver(FakeSession(outcome))
    assert info.value.retryable is retryable


def test_deliver_reports_retry_after() -> None:
    with pytest.raises(DeliveryFailed) as info:
        _deliver(FakeSession((429, {"Retry-After": "7"})))
    assert info.value.status == 429 and info.value.retry_after == 7.0


def test_retries_keep_the_message_id_and_stop_on_permanent_failure() -> None:
    slept: list[float] = []
    session = FakeSession(503, requests.ConnectionError("down"), 200)
    status = webhooks.deliver_with_retries(
        "https://receiver.example/hook", OWN_SECRET, OWN_ID, OWN_BODY, attempts=5,
        base=1.0, cap=10.0, rng=random.Random(3), sleep=slept.append,
        session=session)  # type: ignore[arg-type]
    assert status == 200
    assert [c["headers"]["webhook-id"] for c in session.calls] == [OWN_ID] * 3
    assert len(slept) == 2 and 0 <= slept[0] <= 1.0 and 0 <= slept[1] <= 2.0

    session = FakeSession(404, 200)
    with pytest.raises(DeliveryFailed) as info:
        webhooks.deliver_with_retries("https://receiver.example/hook", OWN_SECRET, OWN_ID,
                                      OWN_BODY, sleep=slept.append,
                                      session=session)  # type: ignore[arg-type]
    assert info.value.retryable is False and len(session.calls) == 1


def test_retries_give_up_after_the_last_attempt() -> None:
    session = FakeSession(500, 500, 500)
    with pytest.raises(DeliveryFailed) as info:
        webhooks.deliver_with_retries("https://receiver.example/hook", OWN_SECRET, OWN_ID,
                                      OWN_BODY, attempts=3, sleep=lambda _: None,
                                      session=session)  # type: ignore[arg-type]
    assert info.value.retryable is True and len(session.calls) == 3
