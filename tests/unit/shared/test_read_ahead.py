"""shared.broker.read_ahead: frames come out whole and in order however the bytes arrive,
and a timeout in the middle of a frame loses nothing (py-amqp's read_frame on top)."""

from __future__ import annotations

import random
import struct

import amqp.transport
import pytest

from shared.broker import READ_AHEAD, read_ahead


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", kind, 1, len(payload)) + payload + b"\xce"


class Socket:
    """What a socket's recv returns: the stream in the pieces given, a timeout where
    `None` stands; never more than asked for."""

    def __init__(self, pieces: list[bytes | None]):
        self.pieces = list(pieces)
        self.asked: list[int] = []

    def recv(self, size: int) -> bytes:
        self.asked.append(size)
        piece = self.pieces.pop(0)
        if piece is None:
            raise TimeoutError("timed out")
        if len(piece) > size:
            self.pieces.insert(0, piece[size:])
            piece = piece[:size]
        return piece


class Transport:
    """py-amqp's frame reader over the read-ahead read."""

    _read = read_ahead
    read_frame = amqp.transport._AbstractTransport.read_frame
    raise_on_initial_eintr = True
    connected = True

    def __init__(self, sock: Socket):
        self._read_buffer = b""
        self._quick_recv = sock.recv


def split(stream: bytes, rng: random.Random) -> list[bytes]:
    pieces, i = [], 0
    while i < len(stream):
        n = rng.randint(1, 700)
        pieces.append(stream[i:i + n])
        i += n
    return pieces


def test_frames_come_out_whole_and_in_order_however_the_bytes_arrive():
    rng = random.Random(7)
    frames = [(rng.choice((1, 2, 3)), rng.randbytes(rng.randint(0, 2000))) for _ in range(300)]
    stream = b"".join(frame(k, p) for k, p in frames)
    for _ in range(20):
        transport = Transport(Socket(split(stream, rng)))
        assert [transport.read_frame()[::2] for _ in frames] == frames


def test_many_small_frames_cost_one_recv():
    frames = [frame(3, b"x" * 100) for _ in range(50)]
    sock = Socket([b"".join(frames)])
    transport = Transport(sock)
    for _ in frames:
        assert transport.read_frame() == (3, 1, b"x" * 100)
    assert sock.asked == [READ_AHEAD]  # py-amqp's own read asks 150 times here


def test_a_timeout_in_the_middle_of_a_frame_loses_nothing():
    whole = frame(3, b"payload") + frame(1, b"next")
    sock = Socket([whole[:5], None, whole[5:9], None, whole[9:]])
    transport = Transport(sock)
    with pytest.raises(TimeoutError):
        transport.read_frame()
    with pytest.raises(TimeoutError):
        transport.read_frame()
    assert transport.read_frame() == (3, 1, b"payload")
    assert transport.read_frame() == (1, 1, b"next")


def test_a_closed_connection_is_an_error():
    transport = Transport(Socket([frame(3, b"abc")[:4], b""]))
    with pytest.raises(OSError, match="closed"):
        transport.read_frame()
