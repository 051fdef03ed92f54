"""Test fixtures. Integration and end-to-end tests run the services as real processes
against the real RabbitMQ and PostgreSQL, each run in its own vhost and database."""

from __future__ import annotations

import pytest

from tests.support.infra import fresh_infra
from tests.support.processes import System


@pytest.fixture(scope="session")
def infra():
    with fresh_infra() as infra:
        yield infra


@pytest.fixture(scope="module")
def system(infra, tmp_path_factory):
    system = System(infra, tmp_path_factory.mktemp("logs")).start()
    yield system
    system.stop()
