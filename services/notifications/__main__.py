"""`python -m services.notifications` runs the notifications service as its own process."""

from shared.green import patch

patch()

from pathlib import Path  # noqa: E402

from services.notifications.service import NotificationsService  # noqa: E402
from shared.service import run  # noqa: E402

run(NotificationsService, Path(__file__).parent / "migrations")
