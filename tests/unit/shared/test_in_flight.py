"""InFlight: when a handled batch may be acknowledged with one multiple ack (a multiple ack
of tag T settles every delivery up to T on the channel, so none may be still in hand)."""

from shared.consumer import InFlight


class Msg:
    def __init__(self, tag: int):
        self.delivery_tag = tag


def flight(tags, hold: int = 100) -> tuple[InFlight, dict[int, Msg]]:
    f = InFlight(channel=object(), hold=hold)
    msgs = {t: Msg(t) for t in tags}
    for t in tags:
        f.received(t)
    return f, msgs


def tags(messages) -> list[int]:
    return [m.delivery_tag for m in messages]


def test_batches_in_order_get_one_multiple_ack_each():
    f, m = flight(range(1, 7))
    covered, alone = f.acknowledge([m[1], m[2], m[3]])
    assert tags(covered) == [1, 2, 3] and alone == []  # one ack: tag 3, multiple
    covered, alone = f.acknowledge([m[4], m[5], m[6]])
    assert tags(covered) == [4, 5, 6] and alone == []


def test_a_batch_done_before_an_earlier_one_waits_for_it():
    f, m = flight(range(1, 7))
    assert f.acknowledge([m[4], m[5], m[6]]) == ([], [])  # 1-3 still in hand
    covered, alone = f.acknowledge([m[1], m[2], m[3]])
    assert tags(covered) == [1, 2, 3, 4, 5, 6] and alone == []


def test_a_delivery_still_in_hand_is_never_covered():
    f, m = flight(range(1, 6))
    covered, _ = f.acknowledge([m[1], m[2], m[4], m[5]])
    assert tags(covered) == [1, 2]  # 3 is in hand: 4 and 5 wait
    f.settled_alone(3)  # e.g. retried or dead-lettered on its own
    covered, _ = f.acknowledge([])
    assert tags(covered) == [4, 5]


def test_batches_held_too_long_are_acknowledged_one_by_one():
    f, m = flight(range(1, 8), hold=3)
    assert f.acknowledge([m[2], m[3]]) == ([], [])
    covered, alone = f.acknowledge([m[4], m[5]])  # 4 held > hold 3: 1 is slow
    assert covered == [] and sorted(tags(alone)) == [2, 3, 4, 5]
    covered, alone = f.acknowledge([m[1]])  # those acked alone are settled now
    assert tags(covered) == [1] and alone == []
    covered, _ = f.acknowledge([m[6], m[7]])
    assert tags(covered) == [6, 7]
