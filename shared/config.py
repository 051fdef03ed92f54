"""The one configuration loader: environment variables with defaults for a local run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

METRICS_PORTS = {"gateway": 9100, "referrals": 9101, "deadlines": 9102, "notifications": 9103,
                 "notification_senders": 9104}


@dataclass(frozen=True)
class Config:
    service: str  # the schema owner: database schema, outbox, migrations, consumer metrics
    # The process's own name (its metrics port and the log's "service" field): the
    # service's by default; a process of its own on a service's tables names itself here.
    process: str = ""
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/ehcp"
    metrics_port: int = 0
    gateway_port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    jwt_secret: str = "dev-only-secret-change-me-in-production-0123456789"
    jwt_issuer: str = "ehcp-tracker"
    jwt_audience: str = "ehcp-tracker"
    rpc_timeout: float = 5.0
    # Long enough to ride out a broker or database restart before the dead-letter queue.
    retry_delays_ms: tuple[int, ...] = (1000, 5000, 30000, 120000, 300000)
    outbox_relay: bool = True  # off: this process writes its outbox but leaves publishing
    relay_poll_seconds: float = 0.2
    relay_batch: int = 500
    # While busy, the relay waits this long after a batch so that the next one is larger
    # (fewer round trips per event); idle, a commit is published at once.
    relay_linger_ms: float = 5.0
    sweep_seconds: float = 5.0
    db_pool_size: int = 10
    # Retention: sent outbox rows and processed inbox ids older than this are deleted (the
    # inbox must outlive any redelivery, a dead-letter replay included), checked this often.
    outbox_retention_days: float = 7.0
    inbox_retention_days: float = 30.0
    retention_sweep_seconds: float = 3600.0
    max_workers: int = 10
    # Event consumers take up to `consumer_batch` messages (those arrived within
    # `consumer_batch_wait_ms` of the first) and handle them in one transaction; at most
    # `consumer_concurrency` batches run at once (the rest of the worker pool stays free for
    # RPC and for the one-by-one fallback of a failed batch). Prefetch follows from these.
    consumer_batch: int = 200
    consumer_batch_wait_ms: float = 5.0
    consumer_concurrency: int = 2
    now: str | None = None  # frozen clock for tests and the demo (ISO date or datetime)
    log_level: str = "INFO"
    # Security (issue 9). `mode` demo allows the public default JWT secret and plain-http
    # loopback webhooks; production refuses both.
    mode: str = "production"
    metrics_bind: str = "127.0.0.1"  # compose and Kubernetes set 0.0.0.0
    max_body_bytes: int = 1024 * 1024  # gateway: larger bodies get 413 unread
    max_json_depth: int = 20  # gateway: deeper JSON gets 422
    body_read_seconds: float = 15.0  # gateway: the whole body must arrive within this
    header_read_seconds: float = 10.0  # gateway: request line and headers likewise
    idle_seconds: float = 30.0  # gateway: a kept-alive connection idle this long is closed
    max_token_seconds: int = 12 * 3600  # longest `exp - iat` a token may have
    auth_failures_per_subject: int = 10  # failed sign-ins a minute per claimed subject
    auth_failures_per_ip: int = 60  # and per client address (a school's NAT is one address)
    user_cache_seconds: float = 5.0  # how long a gateway reuses an active user's row (0: never)
    queue_type: str = "classic"  # or quorum: replicated event queues (shared/topology.py)
    # The environment as read by the loader: services with settings of their own (SMTP for
    # notifications) parse their section from here, so the environment is read in one place.
    env: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not self.process:
            object.__setattr__(self, "process", self.service)

    @property
    def demo(self) -> bool:
        return self.mode == "demo"

    def nameko(self) -> dict:
        """The container config nameko expects."""
        return {
            "AMQP_URI": self.amqp_uri,
            "max_workers": self.max_workers,
            "parent_calls_tracked": 10,
            "WEB_SERVER_ADDRESS": f"0.0.0.0:{self.gateway_port}",
            "SERIALIZER": "json",
        }


def _int_tuple(raw: str) -> tuple[int, ...]:
    return tuple(int(p) for p in raw.split(",") if p.strip())


def _mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in ("demo", "production"):
        raise ValueError("EHCP_MODE must be demo or production")
    return mode

def _queue_type(raw: str) -> str:
    if raw not in ("classic", "quorum"):
        raise ValueError(f"QUEUE_TYPE must be classic or quorum, not {raw!r}")
    return raw


def load_config(service: str, env: dict | None = None, process: str | None = None) -> Config:
    """`service` owns the schema; `process` (the service by default) names the process."""
    env = os.environ if env is None else env
    process = process or service
    prefix = process.upper()
    return Config(
        service=service,
        process=process,
        amqp_uri=env.get("AMQP_URI", Config.amqp_uri),
        database_url=env.get("DATABASE_URL", Config.database_url),
        metrics_port=int(env.get(f"{prefix}_METRICS_PORT", METRICS_PORTS.get(process, 0))),
        gateway_port=int(env.get("GATEWAY_PORT", Config.gateway_port)),
        public_url=env.get("PUBLIC_URL", f"http://127.0.0.1:{env.get('GATEWAY_PORT', 8000)}"),
        jwt_secret=env.get("JWT_SECRET", Config.jwt_secret),
        rpc_timeout=float(env.get("RPC_TIMEOUT", Config.rpc_timeout)),
        retry_delays_ms=_int_tuple(env.get("RETRY_DELAYS_MS", "")) or Config.retry_delays_ms,
        outbox_relay=env.get("OUTBOX_RELAY", "on").lower() not in ("off", "0", "false"),
        relay_poll_seconds=float(env.get("RELAY_POLL_SECONDS", Config.relay_poll_seconds)),
        relay_batch=int(env.get("RELAY_BATCH", Config.relay_batch)),
        relay_linger_ms=float(env.get("RELAY_LINGER_MS", Config.relay_linger_ms)),
        sweep_seconds=float(env.get("SWEEP_SECONDS", Config.sweep_seconds)),
        db_pool_size=int(env.get("DB_POOL_SIZE", Config.db_pool_size)),
        outbox_retention_days=float(env.get("OUTBOX_RETENTION_DAYS",
                                            Config.outbox_retention_days)),
        inbox_retention_days=float(env.get("INBOX_RETENTION_DAYS", Config.inbox_retention_days)),
        retention_sweep_seconds=float(env.get("RETENTION_SWEEP_SECONDS",
                                              Config.retention_sweep_seconds)),
        max_workers=int(env.get("MAX_WORKERS", Config.max_workers)),
        consumer_batch=max(1, int(env.get("CONSUMER_BATCH", Config.consumer_batch))),
        consumer_batch_wait_ms=float(env.get("CONSUMER_BATCH_WAIT_MS",
                                             Config.consumer_batch_wait_ms)),
        consumer_concurrency=max(1, int(env.get("CONSUMER_CONCURRENCY",
                                                Config.consumer_concurrency))),
        now=env.get("NOW") or None,
        log_level=env.get("LOG_LEVEL", "INFO"),
        mode=_mode(env.get("EHCP_MODE", Config.mode)),
        metrics_bind=env.get("METRICS_BIND", Config.metrics_bind),
        max_body_bytes=int(env.get("MAX_BODY_BYTES", Config.max_body_bytes)),
        max_json_depth=int(env.get("MAX_JSON_DEPTH", Config.max_json_depth)),
        body_read_seconds=float(env.get("BODY_READ_SECONDS", Config.body_read_seconds)),
        header_read_seconds=float(env.get("HEADER_READ_SECONDS", Config.header_read_seconds)),
        idle_seconds=float(env.get("IDLE_SECONDS", Config.idle_seconds)),
        max_token_seconds=int(env.get("MAX_TOKEN_SECONDS", Config.max_token_seconds)),
        auth_failures_per_subject=int(env.get("AUTH_FAILURES_PER_SUBJECT",
                                              Config.auth_failures_per_subject)),
        auth_failures_per_ip=int(env.get("AUTH_FAILURES_PER_IP", Config.auth_failures_per_ip)),
        user_cache_seconds=float(env.get("USER_CACHE_SECONDS", Config.user_cache_seconds)),
        queue_type=_queue_type(env.get("QUEUE_TYPE", Config.queue_type)),
        env=dict(env),
    )


def now(cfg: Config) -> datetime:
    """The service's clock: real time, unless NOW pins it (tests, demo)."""
    if cfg.now:
        pinned = datetime.fromisoformat(cfg.now)
        return pinned if pinned.tzinfo else pinned.replace(tzinfo=UTC)
    return datetime.now(UTC)


def today(cfg: Config) -> date:
    return now(cfg).date()
