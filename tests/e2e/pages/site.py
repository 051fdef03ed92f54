"""A seeded region for the page tests: LAs, schools, users with passwords, recipients.
Synthetic names and codes in the real formats, LA codes of their own (971, 972)."""

from __future__ import annotations

from services.gateway import region, sessions
from tests.support.api import Api, token

LA, OTHER_LA = "971", "972"
SCHOOL, OTHER_SCHOOL, OTHER_LA_SCHOOL = "971001", "971002", "972001"
SENCO_SCHOOL = "971003"  # the SENCo journey's own school: its list is not paged by others
PASSWORD = "correct horse battery staple"  # every test user's
USERS = {
    "senco-971001": ("school", LA, SCHOOL),
    "senco-971002": ("school", LA, OTHER_SCHOOL),
    "senco-971003": ("school", LA, SENCO_SCHOOL),
    "senco-972001": ("school", OTHER_LA, OTHER_LA_SCHOOL),
    "cw-971": ("la_caseworker", LA, None),
    "cw2-971": ("la_caseworker", LA, None),
    "mgr-971": ("la_manager", LA, None),
    "cw-972": ("la_caseworker", OTHER_LA, None),
    "admin": ("region_admin", None, None),
}


def seed(infra, url: str) -> None:
    with infra.connect("gateway") as conn:
        region.add_la(conn, LA, "Testshire County Council")
        region.add_la(conn, OTHER_LA, "Otherton Borough Council")
        region.add_school(conn, SCHOOL, "Birch Primary School", LA)
        region.add_school(conn, OTHER_SCHOOL, "Cedar Academy", LA)
        region.add_school(conn, SENCO_SCHOOL, "Hazel Primary School", LA)
        region.add_school(conn, OTHER_LA_SCHOOL, "Elm Secondary School", OTHER_LA)
        for sub, (role, la, urn) in USERS.items():
            region.upsert_user(conn, sub, role, la if role != "school" else None, urn)
            sessions.set_password(conn, sub, PASSWORD)
    admin = Api(url, token("region_admin", sub="admin"))
    for body in ({"kind": "school", "la_code": LA, "school_urn": SCHOOL, "name": "Birch SENCo",
                  "emails": ["senco@birch.example"], "channels": ["inbox"]},
                 {"kind": "school", "la_code": LA, "school_urn": SENCO_SCHOOL,
                  "name": "Hazel SENCo", "emails": ["senco@hazel.example"],
                  "channels": ["inbox"]},
                 {"kind": "la_team", "la_code": LA, "name": "Testshire SEND team",
                  "emails": ["send@testshire.example"], "channels": ["inbox"]}):
        r = admin.post("/v1/recipients", body)
        assert r.status_code == 201, r.text
