"""RPC between services that never hangs.

The caller waits at most `timeout` seconds. Requests carry the same expiration, so a
request to a service that is down is dropped by the broker instead of being run long
after the caller gave up (which could create a record the user was told failed).
While the caller's reply consumer is reconnecting (broker down), calls fail at once
instead of waiting out the timeout; a remote "database unavailable" is also a 503.
"""

from __future__ import annotations

import time

import amqp.exceptions
import eventlet
from kombu.exceptions import OperationalError as BrokerError
from nameko.exceptions import RemoteError
from nameko.rpc import RpcProxy

from shared import broker
from shared.db import DatabaseUnavailable
from shared.metrics import RPC_ERRORS, RPC_SECONDS
from shared.problems import ServiceUnavailable

__all__ = ["ServiceUnavailable", "call", "rpc_proxy"]

# Publishing a request: one quick reconnect (a pooled connection may be stale after a broker
# restart), never nameko's default of several seconds of retries inside a user's request.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                 "interval_max": 0.2}
TRANSPORT = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2,
             "connect_timeout": 2}


# Requests are transient (delivery mode 1), unlike events: one is worth nothing once its
# caller has given up, and a persistent one on the durable RPC queue made the broker write
# it to its message store before confirming it, for every read.
TRANSIENT = 1


def rpc_proxy(target: str, timeout: float) -> RpcProxy:
    return RpcProxy(target, expiration=timeout, retry_policy=PUBLISH_RETRY,
                    transport_options=TRANSPORT, delivery_mode=TRANSIENT)


def call(caller: str, proxy, target: str, method: str, *args, timeout: float, **kwargs):
    started = time.perf_counter()
    listener = getattr(getattr(proxy, "reply_listener", None), "queue_consumer", None)
    if listener is not None and not broker.connected(listener):
        RPC_ERRORS.labels(caller, target, "broker_down").inc()
        raise ServiceUnavailable(target, "message broker unreachable")
    try:
        with eventlet.Timeout(timeout):
            return getattr(proxy, method)(*args, **kwargs)
    except (BrokerError, amqp.exceptions.ConnectionError, OSError) as exc:
        RPC_ERRORS.labels(caller, target, "broker_down").inc()
        raise ServiceUnavailable(target, "message broker unreachable") from exc
    except eventlet.Timeout:
        RPC_ERRORS.labels(caller, target, "timeout").inc()
        raise ServiceUnavailable(target, f"no reply within {timeout:g} s") from None
    except RemoteError as exc:
        if exc.exc_type == DatabaseUnavailable.__name__:
            RPC_ERRORS.labels(caller, target, "database_down").inc()
            raise ServiceUnavailable(target, "its database is unreachable") from None
        RPC_ERRORS.labels(caller, target, "remote_error").inc()
        raise
    finally:
        RPC_SECONDS.labels(caller, target, method).observe(time.perf_counter() - started)
