"""RPC between services that never hangs.

The caller waits at most `timeout` seconds. Requests carry the same expiration, so a
request to a service that is down is dropped by the broker instead of being run long
after the caller gave up (which could create a record the user was told failed).
"""

from __future__ import annotations

import time

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import RpcProxy

from shared.metrics import RPC_ERRORS, RPC_SECONDS


class ServiceUnavailable(Exception):
    def __init__(self, target: str, reason: str):
        super().__init__(f"{target} unavailable: {reason}")
        self.target = target
        self.reason = reason


def rpc_proxy(target: str, timeout: float) -> RpcProxy:
    return RpcProxy(target, expiration=timeout)


def call(caller: str, proxy, target: str, method: str, *args, timeout: float, **kwargs):
    started = time.perf_counter()
    try:
        with eventlet.Timeout(timeout):
            return getattr(proxy, method)(*args, **kwargs)
    except eventlet.Timeout:
        RPC_ERRORS.labels(caller, target, "timeout").inc()
        raise ServiceUnavailable(target, f"no reply within {timeout:g} s") from None
    except UnknownService:
        RPC_ERRORS.labels(caller, target, "unknown_service").inc()
        raise ServiceUnavailable(target, "not running") from None
    except RemoteError:
        RPC_ERRORS.labels(caller, target, "remote_error").inc()
        raise
    finally:
        RPC_SECONDS.labels(caller, target, method).observe(time.perf_counter() - started)
