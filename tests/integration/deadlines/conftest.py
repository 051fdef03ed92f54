"""The deadlines service alone, as a real process, on a broker vhost and database of its own.

These tests drive it through the broker and read it through its RPCs and tables, so they
need neither the gateway nor the other services. Their own vhost and database keep the
thousands of alerts the bulk tests emit out of the other services' queues and figures."""

from __future__ import annotations

import pytest

from tests.support.infra import fresh_infra
from tests.support.processes import System


@pytest.fixture(scope="package")
def infra():
    """Overrides the session's infra for this package only."""
    with fresh_infra() as infra:
        yield infra


@pytest.fixture(scope="module")
def deadlines_system(infra, tmp_path_factory):
    system = System(infra, tmp_path_factory.mktemp("logs"))
    system.services["deadlines"].start()
    yield system
    system.services["deadlines"].stop()
