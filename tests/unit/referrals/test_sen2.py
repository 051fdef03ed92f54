"""The SEN2 record of a case: built from its steps, checked by the business rules, and
written as XML that the project's XSD accepts (or refuses, when mandatory data is missing)."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from lxml import etree

from services.referrals import sen2

PERIOD, REF = (date(2026, 1, 1), date(2027, 1, 1)), sen2.reference_date(2027)
SCHEMA = etree.XMLSchema(etree.parse(str(sen2.XSD)))


def upn(body: str = "881200126001") -> str:
    return sen2.upn_check_letter("A" + body) + body


CASE = {"reference": "881-2026-00001", "child_family_name": "Child-Synthetic",
        "child_given_name": "Test", "child_date_of_birth": date(2015, 3, 1),
        "received_on": date(2026, 1, 5), "requested_by": "school", "school_urn": "100001"}
DETAILS = {"sex": "F", "ethnicity": "WBRI", "postcode": "ZZ99 3AA", "upn": upn(),
           "plan_residential": False, "plan_work_based": False, "personal_budget": "N"}


def steps(*rows: tuple) -> list[dict]:
    return [{"type": t, "on_date": date.fromisoformat(on), "data": data}
            for t, on, data in rows]


PLAN = steps(("decision_to_assess", "2026-02-10", {"outcome": "assess"}),
             ("draft_plan_issued", "2026-04-01", {}),
             ("final_plan_issued", "2026-05-20", {}))


def xml(people: list[sen2.Person]) -> etree._Element:
    return etree.fromstring(sen2.to_xml("881", 2027, people, datetime(2027, 1, 20, 9, 0)))


def test_reference_date_is_the_third_thursday_of_january():
    assert sen2.reference_date(2027) == date(2027, 1, 21)
    assert sen2.reference_date(2026) == date(2026, 1, 15)


def test_upn_check_letter():
    good = upn()
    assert sen2.UPN.match(good)
    p = sen2.build_person(CASE, PLAN, {**DETAILS, "upn": good}, PERIOD, REF)
    assert p.errors == []
    wrong = ("B" if good[0] != "B" else "C") + good[1:]
    p = sen2.build_person(CASE, PLAN, {**DETAILS, "upn": wrong}, PERIOD, REF)
    assert [e["field"] for e in p.errors] == ["UPN"]


def test_a_complete_plan_validates_against_the_xsd():
    person = sen2.build_person(CASE, PLAN, DETAILS, PERIOD, REF)
    assert person.errors == []
    doc = xml([person])
    assert SCHEMA.validate(doc), SCHEMA.error_log
    assert doc.findtext("Header/CollectionDetails/ReferenceDate") == "2027-01-21"
    assert doc.findtext("Person/Requests/Assessment/Week20") == "Y"  # 135 days
    assert doc.findtext("Person/Requests/Assessment/NamedPlan/PlacementDetail/URN") == "100001"
    assert doc.findtext("Person/Requests/ActivePlans/ReviewMeeting") is None
    assert sen2.counts([person])["plans_issued"] == 1


def test_missing_and_out_of_order_fields_are_reported_by_reference():
    refused = steps(("decision_to_assess", "2026-03-01", {"outcome": "refuse"}))
    p = sen2.build_person({**CASE, "child_date_of_birth": date(2026, 2, 1)}, refused,
                          {"ethnicity": "XXXX"}, PERIOD, REF)
    got = {(e["reference"], e["field"], e["message"].split(":")[0]) for e in p.errors}
    assert ("881-2026-00001", "Sex", "missing") in got
    assert ("881-2026-00001", "Ethnicity", "code 'XXXX' is not in the list") in got
    assert ("881-2026-00001", "PostCode", "missing") in got
    assert ("881-2026-00001", "UPN", "missing") in got
    assert ("881-2026-00001", "RequestMediation", "missing") in got
    assert ("881-2026-00001", "PersonBirthDate", "request received before birth") in got
    assert "Child-Synthetic" not in str(p.errors)
    assert not SCHEMA.validate(xml([p]))  # the XSD refuses it too


def test_plan_details_missing_and_ceased_without_reason():
    ceased = PLAN + steps(("review_meeting_held", "2026-10-01", {}),
                          ("review_decision", "2026-10-10", {"outcome": "cease"}))
    p = sen2.build_person(CASE, ceased, {**DETAILS, "personal_budget": None}, PERIOD, REF)
    assert {e["field"] for e in p.errors} == {"PB", "CeaseReason"}
    assert p.active is None  # ceased before the reference date


@pytest.mark.parametrize("name,values", [
    ("SexType", sen2.SEX), ("EthnicityType", sen2.ETHNICITY),
    ("UPNunknownType", sen2.UPN_UNKNOWN), ("PersonalBudgetType", sen2.PERSONAL_BUDGET),
    ("SENsettingType", sen2.SEN_SETTING), ("CeaseReasonType", sen2.CEASE_REASON),
])
def test_the_xsd_code_lists_are_the_modules(name, values):
    text = sen2.XSD.read_text()
    block = text[text.index(f'name="{name}"'):]
    block = block[:block.index("</xs:simpleType>")]
    assert tuple(re.findall(r'enumeration value="([^"]+)"', block)) == tuple(values)
