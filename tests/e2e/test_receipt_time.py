"""A request submitted after 17:00 (London time) counts from the next working day when the
LA chose that (IPSEA guidance); a back-dated import counts from its date."""

from __future__ import annotations

import pytest

from tests.support.api import Api, referral_body, token
from tests.support.processes import running_system, wait_for

pytestmark = pytest.mark.e2e

LA, SCHOOL = "973", "973001"


@pytest.fixture(scope="module")
def evening(infra, tmp_path_factory):
    """The system at 18:30 on Wednesday 30 June 2027, British Summer Time."""
    with running_system(infra, tmp_path_factory.mktemp("evening"),
                        {"NOW": "2027-06-30T18:30:00+01:00"}, (LA, SCHOOL)) as system:
        yield system


def decision_due(api: Api, received_on: str) -> str:
    case = api.post("/v1/referrals", referral_body(LA, SCHOOL, received_on)).json()

    def due():
        body = api.get(f"/v1/referrals/{case['id']}/deadlines").json()
        return body["deadlines_up_to_date"] and next(
            d["due_on"] for d in body["deadlines"] if d["milestone"] == "decision_to_assess")

    return wait_for(due)


def test_after_five_counts_from_the_next_working_day_when_the_la_says_so(evening):
    school = Api(evening.url, token("school", school_urn=SCHOOL))
    # Setting off (the default): Wed 30 Jun 2027 + 42 days = Wed 11 Aug 2027.
    assert decision_due(school, "2027-06-30") == "2027-08-11"

    manager = Api(evening.url, token("la_manager", la_code=LA))
    answer = manager.put(f"/v1/las/{LA}/settings", {"next_working_day_receipt": True})
    assert answer.status_code == 200, answer.text
    # On, received at 18:30: the clock starts Thu 1 Jul 2027; + 42 days = Thu 12 Aug 2027.
    assert decision_due(school, "2027-06-30") == "2027-08-12"
    # An import dated Tue 29 Jun (a working day, no time of day): + 42 = Tue 10 Aug 2027.
    assert decision_due(school, "2027-06-29") == "2027-08-10"
