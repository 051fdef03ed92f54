"""Green-thread set-up, done once before anything imports psycopg or sockets.

nameko runs on eventlet. psycopg 3's default (C) wait function blocks the whole
eventlet hub, so ten concurrent slow queries would run one after another.
`wait_select` goes through `select.select`, which eventlet has made cooperative.
"""

import os


def patch() -> None:
    import warnings

    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
    # eventlet warns that it is deprecated; the choice is recorded in docs/decisions.md.
    warnings.filterwarnings("ignore", message=r"(?s)\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()
