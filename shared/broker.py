"""Broker outages survived in-process: what nameko 2.14 lacks, added in one place.

nameko's queue consumer (behind our event consumer, its RPC server and the RPC reply
listener) reconnects by itself, but:
- it waits up to 30 s between attempts, so a service stays deaf for half a minute after
  the broker is back: here it retries every 0.5-2 s;
- it re-declares only the queues it consumes from, so a broker that lost its state comes
  back without retry queues, dead-letter queues or `ehcp.dlx`, and poison messages loop:
  here every (re)connection declares the whole topology first;
- an ack, requeue or RPC reply over a connection that just died raises inside a worker,
  and nameko then kills the whole service: here it is logged and counted, and the message
  is left to the broker, which redelivers it (consumers are idempotent through the inbox);
- a graceful stop waits for the consumer thread to see the stop, which it checks once a
  second: here ten times a second;
- a redelivered RPC request may already have run (its reply was lost with the connection):
  here it is dropped, so a write the caller was told failed (503) is never run a second
  time. RPC is at most once; events are at least once.

It also trims what nameko does on every RPC call (issue 10, docs/decisions.md): replies go
unconfirmed and are consumed unacked, requests go unconfirmed, the producer pool is looked
up once per set of options and keeps its producers bound (ProducerPool), and an
entrypoint's signature is built once.

`install()` patches nameko's classes once per process; `shared.service.run` calls it.
"""

from __future__ import annotations

import errno
import inspect
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import amqp.transport
import nameko.amqp.publish
from kombu import Connection, Producer
from kombu.pools import get_limit
from nameko.amqp.publish import Publisher
from nameko.exceptions import IncorrectSignature
from nameko.extensions import Entrypoint
from nameko.messaging import QueueConsumer
from nameko.rpc import MethodProxy, ReplyListener, Responder, RpcConsumer

from shared.metrics import BROKER_RECOVERIES, RPC_DROPPED_REDELIVERIES, SETTLE_FAILURES
from shared.topology import declare_on

log = logging.getLogger(__name__)

RECONNECT = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 2.0}
STOP_POLL_SECONDS = 0.1

_installed = False


class ProducerPool:
    """Producers that stay bound to a connection and channel of their own between
    publishes. kombu's pool (nameko's get_producer) hands each producer's connection back
    to a connection pool after every publish and binds it again on the next one (a
    connection acquired, the exchange and channel bound anew); bench/producer_pool.py
    measures both. Green threads are cooperative, so a producer taken from the free list
    is used by one of them at a time; at most `limit` exist, like kombu's pool. A producer
    whose publish raised (a broken connection, or a timeout that interrupted it between
    two frames) is closed, never reused."""

    def __init__(self, connection: Connection, limit: int):
        self._connection = connection
        self._free: list[Producer] = []
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def acquire(self) -> Iterator[Producer]:
        with self._slots:
            producer = self._free.pop() if self._free else Producer(self._connection.clone())
            try:
                yield producer
            except BaseException:
                close_quietly(producer.connection)
                raise
            self._free.append(producer)


def close_quietly(connection: Connection | None) -> None:
    """Close a kombu connection that may be broken already (closing it may raise again)."""
    try:
        if connection is not None:
            connection.release()
    except Exception:
        pass


_producer_pools: dict = {}


@contextmanager
def pooled_producer(amqp_uri: str, confirms: bool = True, ssl=None, login_method=None,
                    transport_options: dict | None = None) -> Iterator[Producer]:
    """nameko's get_producer (patched in by install()) on a ProducerPool per set of
    options, found once: nameko built a kombu Connection (URL parsing, options, pool key)
    on every publish."""
    options = {**(transport_options or {}), "confirm_publish": confirms}
    key = (amqp_uri, repr(ssl), login_method, repr(sorted(options.items())))
    pool = _producer_pools.get(key)
    if pool is None:
        pool = _producer_pools[key] = ProducerPool(Connection(
            amqp_uri, transport_options=options, ssl=ssl, login_method=login_method),
            limit=get_limit())
    with pool.acquire() as producer:
        yield producer


READ_AHEAD = 65536


def read_ahead(self, n: int, initial: bool = False,
               _errnos: tuple = (errno.EAGAIN, errno.EINTR)) -> bytes:
    """py-amqp's TCPTransport._read, reading ahead: it asked the socket for exactly what the
    frame's next part needed (7 header bytes, the payload, the end byte), so a delivery of
    three frames took nine recv calls, each a trip through eventlet's green socket and,
    when nothing was waiting, the hub. This asks for up to READ_AHEAD bytes and serves the
    next reads from the buffer. Safe because every reader here (nameko's consumers, the
    RPC reply listener, the relay's confirms) reads through read_frame, never by polling
    the socket first. The buffer is a bytearray, so taking a frame off its front copies
    that frame only; what read_frame puts back after a timeout (bytes) is converted on the
    next call."""
    rbuf = self._read_buffer
    if type(rbuf) is not bytearray:
        rbuf = self._read_buffer = bytearray(rbuf)
    recv = self._quick_recv
    while len(rbuf) < n:  # what was read stays in rbuf (self._read_buffer) if this raises
        try:
            chunk = recv(max(n - len(rbuf), READ_AHEAD))
        except OSError as exc:
            if exc.errno in _errnos:
                if initial and self.raise_on_initial_eintr:
                    raise TimeoutError() from None
                continue
            raise
        if not chunk:
            raise OSError("Server unexpectedly closed connection")
        rbuf += chunk
    result = bytes(rbuf[:n])
    del rbuf[:n]
    return result


def connected(queue_consumer) -> bool:
    """Whether this queue consumer is consuming now (False while it reconnects)."""
    return getattr(queue_consumer, "broker_connected", False)


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    original_get_consumers = QueueConsumer.get_consumers
    original_consume_ready = QueueConsumer.on_consume_ready
    original_rpc_result = RpcConsumer.handle_result
    original_rpc_message = RpcConsumer.handle_message
    original_consume = QueueConsumer.consume

    def consume(self, *args, **kwargs):
        # The consumer thread looks for consumers to cancel between two reads of the socket,
        # which kombu bounds at 1 s: a graceful stop waited that long per queue consumer.
        kwargs.setdefault("safety_interval", STOP_POLL_SECONDS)
        return original_consume(self, *args, **kwargs)

    @contextmanager
    def establish_connection(self):
        self.broker_connected = False
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries,
                                   **RECONNECT)
            yield conn

    def get_consumers(self, consumer_cls, channel):
        declare_on(channel)  # a broker that lost its state gets all of it back first
        consumers = original_get_consumers(self, consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            if isinstance(provider, ReplyListener):
                # A reply is worth nothing once its caller is gone (its queue expires with
                # the caller), so it is not acked: one frame less each way per call.
                consumer.no_ack = True
        return consumers

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        if getattr(self, "ever_connected", False):
            BROKER_RECOVERIES.labels(self.container.service_name).inc()
            log.info("broker connection restored", extra={"queue": _queues(self)})
        self.ever_connected = True
        self.broker_connected = True
        return original_consume_ready(self, connection, channel, consumers, **kwargs)

    def settle(action: str):
        def settle_message(self, message):
            try:
                getattr(message, action)()
            except Exception as exc:  # the channel died: the broker redelivers the message
                SETTLE_FAILURES.labels(self.container.service_name, action).inc()
                log.warning("could not %s a message; the broker will redeliver it", action,
                            extra={"error": repr(exc),
                                   "event_id": message.properties.get("message_id")})
        return settle_message

    def rpc_handle_result(self, message, result, exc_info):
        try:
            return original_rpc_result(self, message, result, exc_info)
        except Exception as exc:  # reply lost with the connection: the caller gets 503
            SETTLE_FAILURES.labels(self.container.service_name, "reply").inc()
            log.warning("could not send an RPC reply", extra={
                "error": repr(exc), "route": message.delivery_info.get("routing_key")})
            return result, exc_info

    def rpc_handle_message(self, body, message):
        if message.delivery_info.get("redelivered"):
            RPC_DROPPED_REDELIVERIES.labels(self.container.service_name).inc()
            log.warning("redelivered RPC request dropped (it may have run already)",
                        extra={"route": message.delivery_info.get("routing_key")})
            self.queue_consumer.ack_message(message)
            return None
        return original_rpc_message(self, body, message)

    class ReplyPublisher(Publisher):
        # An RPC reply goes to its caller's own non-durable queue, and is worth nothing once
        # the caller has given up. A publisher confirm (and the broker's work for it) would
        # tell the caller nothing: a reply that cannot be published times it out either way.
        use_confirms = False
        delivery_mode = 1

    class RequestPublisher(Publisher):
        # An RPC request is transient and expires with its caller's timeout; the caller
        # learns its fate from the reply, or from the timeout. Without the publisher confirm
        # (a frame back, read before the call could go on) the gateway's CPU for a case
        # read went from 1.59 to 1.41 ms, the referrals service's from 1.34 to 1.24.
        # Without a confirm, `mandatory` cannot report a service that never declared its
        # queue (nameko's UnknownService), and the basic.return would be left unread on a
        # pooled connection, so it is off: such a call times out, like one to a service
        # that is down.
        use_confirms = False

        def publish(self, payload, **kwargs):
            kwargs["mandatory"] = False
            return super().publish(payload, **kwargs)

    def check_signature(self, args, kwargs):
        # nameko's check, with the method's signature built once per entrypoint instead of
        # on every call (inspect.getcallargs: 2.8% of the gateway's samples for a read).
        signature = self.__dict__.get("_signature")
        if signature is None:
            signature = self._signature = inspect.signature(
                getattr(self.container.service_cls, self.method_name), follow_wrapped=False)
        try:
            signature.bind(None, *args, **kwargs)  # None: the unbound method's `self`
        except TypeError as exc:
            raise IncorrectSignature(str(exc)) from None

    amqp.transport.TCPTransport._read = read_ahead
    Entrypoint.check_signature = check_signature
    nameko.amqp.publish.get_producer = pooled_producer
    Responder.publisher_cls = ReplyPublisher
    MethodProxy.publisher_cls = RequestPublisher
    QueueConsumer.establish_connection = establish_connection
    QueueConsumer.consume = consume
    QueueConsumer.get_consumers = get_consumers
    QueueConsumer.on_consume_ready = on_consume_ready
    QueueConsumer.ack_message = settle("ack")
    QueueConsumer.requeue_message = settle("requeue")
    RpcConsumer.handle_result = rpc_handle_result
    RpcConsumer.handle_message = rpc_handle_message


def _queues(queue_consumer) -> str:
    return ",".join(sorted(p.queue.name for p in queue_consumer._providers
                           if getattr(p, "queue", None) is not None))[:200]
