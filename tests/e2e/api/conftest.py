"""One running system for every module of the public API's tests (starting the
services once, not per module, keeps the suite fast). Its clock is pinned (NOW) so that
a case can be walked from a request in January 2026 to its annual review in 2027."""

from __future__ import annotations

import pytest

from tests.support.processes import running_system

TODAY = "2027-06-30"


@pytest.fixture(scope="package")
def system(infra, tmp_path_factory):
    # The demo region's school: the OpenAPI examples (and so schemathesis) name it.
    with running_system(infra, tmp_path_factory.mktemp("api-logs"), {"NOW": TODAY},
                        ("881", "100001")) as system:
        yield system
