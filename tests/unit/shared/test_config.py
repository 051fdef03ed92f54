"""The configuration loader: a process named apart from the schema it works on."""

from __future__ import annotations

from shared.config import Config, load_config


def test_process_defaults_to_the_service():
    cfg = load_config("notifications", env={})
    assert cfg.process == cfg.service == "notifications"
    assert cfg.metrics_port == 9103
    assert Config(service="gateway").process == "gateway"


def test_a_process_of_its_own_on_a_services_schema():
    cfg = load_config("notifications", env={"NOTIFICATIONS_METRICS_PORT": "9990"},
                      process="notification_senders")
    assert (cfg.service, cfg.process) == ("notifications", "notification_senders")
    assert cfg.metrics_port == 9104  # its own port, not the notifications service's
    cfg = load_config("notifications", env={"NOTIFICATION_SENDERS_METRICS_PORT": "9991"},
                      process="notification_senders")
    assert cfg.metrics_port == 9991
