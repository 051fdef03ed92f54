"""`python -m services.deadlines` runs the deadlines service as its own process."""

from shared.green import patch

patch()

from pathlib import Path  # noqa: E402

from services.deadlines.service import DeadlinesService  # noqa: E402
from shared.service import run  # noqa: E402

run(DeadlinesService, Path(__file__).parent / "migrations")
