"""shared.broker's check_signature (the method's signature built once): a call nameko would
refuse is refused, one it would accept is accepted, for positional and keyword args."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nameko.exceptions import IncorrectSignature
from nameko.rpc import Rpc

from shared import broker


class Service:
    name = "service"

    def read(self, actor, case_id, action="read"):
        return actor, case_id, action


def entrypoint() -> Rpc:
    broker.install()
    ep = Rpc()
    ep.method_name = "read"
    ep.container = SimpleNamespace(service_cls=Service)
    return ep


@pytest.mark.parametrize("args, kwargs", [
    (("actor", "case"), {}), (("actor",), {"case_id": "case"}),
    (("actor", "case", "audit"), {}), ((), {"actor": "a", "case_id": "c", "action": "x"})])
def test_calls_that_fit_the_method_pass(args, kwargs):
    ep = entrypoint()
    ep.check_signature(args, kwargs)
    ep.check_signature(args, kwargs)  # the second time from the kept signature


@pytest.mark.parametrize("args, kwargs", [
    ((), {}), (("actor",), {}), (("a", "b", "c", "d"), {}), (("a", "b"), {"other": 1}),
    (("a", "b"), {"actor": "again"})])
def test_calls_that_do_not_fit_are_refused(args, kwargs):
    with pytest.raises(IncorrectSignature):
        entrypoint().check_signature(args, kwargs)
