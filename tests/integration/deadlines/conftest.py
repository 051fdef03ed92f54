"""The deadlines service alone, as a real process on the run's broker and database.

These tests drive it through the broker and read it through its RPCs and tables, so they
need neither the gateway nor the other services (faster, and independent of their state)."""

from __future__ import annotations

import pytest

from tests.support.processes import System


@pytest.fixture(scope="module")
def deadlines_system(infra, tmp_path_factory):
    system = System(infra, tmp_path_factory.mktemp("logs"))
    system.services["deadlines"].start()
    yield system
    system.services["deadlines"].stop()
