import pytest

from services.notifications.email import DeliveryFailed, EmailSettings, build_message, send_email


def test_from_env_style_mapping_with_prefix() -> None:
    env = {"SMTP_HOST": "smtp.example", "SMTP_PORT": "587", "SMTP_STARTTLS": "true",
           "SMTP_USERNAME": "alerts", "SMTP_PASSWORD": "s3cret", "SMTP_TIMEOUT": "2.5",
           "SMTP_FROM": "alerts@ehcp.example", "PATH": "/usr/bin"}
    s = EmailSettings.from_mapping(env, prefix="SMTP_")
    assert s == EmailSettings(host="smtp.example", port=587, sender="alerts@ehcp.example",
                              starttls=True, username="alerts", password="s3cret",
                              timeout=2.5)
    assert "s3cret" not in repr(s)


def test_defaults_and_plain_mapping() -> None:
    s = EmailSettings.from_mapping({"host": "localhost"})
    assert (s.port, s.starttls, s.username, s.password, s.timeout) == (25, False, None, None,
                                                                       10.0)


@pytest.mark.parametrize("conf", [{}, {"host": ""}, {"host": "h", "starttls": "maybe"},
                                  {"host": "h", "password": "x"}])
def test_invalid_settings(conf: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        EmailSettings.from_mapping(conf)


def test_message_has_text_and_html_alternatives() -> None:
    s = EmailSettings(host="localhost", sender="alerts@ehcp.example")
    msg = build_message(s, ["a@school.example", "b@school.example"], "Subj", "plain", "<p>h</p>")
    assert msg["To"] == "a@school.example, b@school.example"
    assert msg["Message-ID"].endswith("@ehcp.example>")
    assert msg.get_body(("plain",)).get_content() == "plain\n"
    assert msg.get_body(("html",)).get_content() == "<p>h</p>\n"


def test_no_recipients_and_header_injection_are_permanent_failures() -> None:
    s = EmailSettings(host="localhost")
    with pytest.raises(DeliveryFailed) as info:
        send_email(s, [], "Subj", "t", "h")
    assert info.value.retryable is False
    with pytest.raises(DeliveryFailed) as info:
        send_email(s, ["a@school.example"], "Subj\nBcc: x@evil.example", "t", "h")
    assert info.value.retryable is False
