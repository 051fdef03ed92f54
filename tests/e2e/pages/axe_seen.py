"""Names of the pages axe-core has passed in this run (one module object, shared by the
conftest's Browser and test_zz_coverage)."""

AXE_CHECKED: set[str] = set()
