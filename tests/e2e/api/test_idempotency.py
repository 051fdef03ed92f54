"""Idempotency-Key under a race and under misuse (issue 9), against the real services."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.api import Api, referral_body, token

LA, SCHOOL = "921", "921001"


@pytest.fixture(scope="module", autouse=True)
def register(system):
    system.register_schools(LA, SCHOOL)


def test_parallel_retries_with_one_key_get_the_one_case(system, infra):
    school = Api(system.url, token("school", school_urn=SCHOOL, sub="senco-idem"))
    body = referral_body(LA, SCHOOL, "2026-04-01")
    headers = {"Idempotency-Key": "race-1"}
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: school.post("/v1/referrals", body, headers=headers),
                                range(10)))
    assert [r.status_code for r in answers] == [201] * 10, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    with infra.connect("referrals") as conn:
        count = conn.execute("SELECT count(*) AS n FROM cases WHERE idempotency_key = %s",
                             ("senco-idem:race-1",)).fetchone()["n"]
    assert count == 1


def test_a_used_key_with_a_different_body_is_422_naming_the_header(system):
    school = Api(system.url, token("school", school_urn=SCHOOL, sub="senco-idem-2"))
    headers = {"Idempotency-Key": "reuse-1"}
    first = school.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-04-02"),
                        headers=headers)
    assert first.status_code == 201
    again = school.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-04-02"),
                        headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    other = school.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-04-03"),
                        headers=headers)
    assert other.status_code == 422, other.text
    assert other.headers["Content-Type"] == "application/problem+json"
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_used_step_key_with_a_different_body_is_422(system):
    caseworker = Api(system.url, token("la_caseworker", la_code=LA))
    case = caseworker.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-04-06")).json()
    headers = {"Idempotency-Key": "step-1"}
    step = {"type": "decision_to_assess", "on": "2026-05-01", "outcome": "assess"}
    first = caseworker.post(f"/v1/referrals/{case['id']}/events", step, headers=headers)
    assert first.status_code == 201, first.text
    assert caseworker.post(f"/v1/referrals/{case['id']}/events", step,
                           headers=headers).status_code == 201
    changed = caseworker.post(f"/v1/referrals/{case['id']}/events",
                              {**step, "on": "2026-05-02"}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"
