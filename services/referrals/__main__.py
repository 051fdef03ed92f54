"""`python -m services.referrals` runs the referrals service as its own process."""

from shared.green import patch

patch()

from pathlib import Path  # noqa: E402

from services.referrals.service import ReferralsService  # noqa: E402
from shared.service import run  # noqa: E402

run(ReferralsService, Path(__file__).parent / "migrations")
