"""Runs after the journeys (files run in name order): axe-core has checked every page
that shows something (each declared GET page but the home redirect)."""

from __future__ import annotations

import pytest

from services.gateway.pages import PAGES
from tests.e2e.pages.axe_seen import AXE_CHECKED

pytestmark = pytest.mark.e2e

REDIRECTS = {"home", "oidc_start", "oidc_callback"}


def test_axe_checked_every_page():
    shown = {p.name for p in PAGES if p.method == "GET"} - REDIRECTS
    if not AXE_CHECKED:
        pytest.skip("run with the journeys (tests/e2e/pages)")
    assert shown - AXE_CHECKED == set()
