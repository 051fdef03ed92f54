"""`python -m services.gateway` runs the HTTP gateway as its own process."""

from shared.green import patch

patch()

from pathlib import Path  # noqa: E402

from services.gateway.service import GatewayService  # noqa: E402
from shared.service import run  # noqa: E402

run(GatewayService, Path(__file__).parent / "migrations")
