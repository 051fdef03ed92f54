"""The deadlines service's Prometheus metrics. Labels: LA code, rule and status only."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

BREACHES = Counter(
    "ehcp_deadline_breaches_total", "deadline.breached alerts emitted", ["la_code"])
OPEN_MILESTONES = Gauge(
    "ehcp_deadline_open_milestones", "Open milestones by rule and status (as of today)",
    ["la_code", "rule", "status"])
SWEEP_EMITTED = Counter(
    "ehcp_deadline_alerts_emitted_total", "Alerts emitted by the sweep of this process")

# SEN2 timeliness of the current calendar year, one gauge per figure (LA code label only).
SEN2_FIELDS = {
    "requests_decided": "Requests for assessment decided this year",
    "decided_within_6_weeks": "Requests decided within 6 weeks",
    "plans_issued": "Final EHC plans issued this year",
    "within_20_weeks": "Plans issued within 20 weeks",
    "over_20_weeks_under_a_year": "Plans issued over 20 weeks but under a year",
    "over_a_year": "Plans issued over a year after the request",
}
SEN2 = {
    (field, scope): Gauge(
        f"ehcp_sen2_{field}_{scope}_exceptions",
        f"{text}, {scope} exceptions (SEN2, current calendar year)", ["la_code"])
    for field, text in SEN2_FIELDS.items() for scope in ("including", "excluding")
}
SEN2_AVERAGE_WEEKS = Gauge(
    "ehcp_sen2_average_weeks_to_issue", "Average weeks from request to final plan, this year",
    ["la_code"])

_open_labels: set[tuple[str, str, str]] = set()


def set_open_milestones(rows: list[dict]) -> None:
    """Set the gauges from one grouped query; label sets that disappeared go to zero."""
    current = set()
    for r in rows:
        key = (r["la_code"], r["rule"], r["status"])
        current.add(key)
        OPEN_MILESTONES.labels(*key).set(r["n"])
    for key in _open_labels - current:
        OPEN_MILESTONES.labels(*key).set(0)
    _open_labels.update(current)


def set_sen2(figures: list[dict]) -> None:
    for f in figures:
        la = f["la_code"]
        for (field, scope), gauge in SEN2.items():
            gauge.labels(la).set(f[f"{scope}_exceptions"][field])
        SEN2_AVERAGE_WEEKS.labels(la).set(f["average_weeks_to_issue"] or 0)
