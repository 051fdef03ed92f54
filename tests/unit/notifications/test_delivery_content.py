"""An alert's delivery stores the alert and the sender renders it: same bytes every time,
and an alert that can never render fails for good rather than being retried."""

import uuid
from datetime import date

import pytest

from services.notifications import delivery, render
from services.notifications.config import NotifyConfig
from services.notifications.email import DeliveryFailed
from shared.events import json_values

ALERT = {"reference": "EHC-800-2027-00001", "case_id": uuid.UUID(int=7), "milestone": "final_plan",
         "kind": "due", "due_on": date(2027, 3, 1), "link": "https://ehcp.example/cases/7",
         "la_code": "800", "school_urn": "100001"}


def test_stored_alert_is_json_ready_and_renders_as_the_alert_itself():
    stored = json_values(ALERT)
    assert stored["due_on"] == "2027-03-01" and stored["case_id"] == str(uuid.UUID(int=7))
    email = delivery.content_for("email", stored)
    assert email == {"subject": render.subject(ALERT), "text": render.text_body(ALERT),
                     "html": render.html_body(ALERT)}
    assert delivery.content_for("webhook", stored) == {
        "body": render.webhook_body(ALERT).decode()}
    assert delivery.content_for("email", stored) == email  # a retry sends the same bytes


def test_an_alert_that_cannot_render_fails_without_retry():
    row = {"id": uuid.uuid4(), "channel": "webhook", "webhook_url": "https://x.example/h",
           "webhook_secret": "s", "content": {"alert": {**json_values(ALERT), "due_on": "soon"}}}
    with pytest.raises(DeliveryFailed) as caught:
        delivery.send(row, NotifyConfig(email=None))
    assert not caught.value.retryable and "cannot be rendered" in str(caught.value)
