"""The connector's settings (the ``connectors.<name>`` section of the YAML).

Structured strictly by the core: an unknown key is an error. Secrets go through
``${VAR}`` interpolation and :class:`stockfish_core.config.Secret`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import attrs
import zmq
import zmq.auth

from stockfish_core.plugin_api import ConfigCompat, Secret

from .schema import KINDS

__all__ = ["CurveConfig", "CurveKeys", "ZmqConfig", "load_normalizer"]

_SCHEMES = ("tcp://", "ipc://")


def _z85_key(value: str, what: str) -> bytes:
    key = value.strip().encode("ascii", "replace")
    if len(key) != 40:
        raise ValueError(f"{what} must be a 40-character Z85 CURVE key, got {len(key)} characters")
    try:
        zmq.utils.z85.decode(key)
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"{what} is not valid Z85 text") from None
    return key


def _read_certificate(path: str, what: str) -> tuple[bytes, bytes | None]:
    if not os.path.isfile(path):
        raise ValueError(f"{what}: no such file {path!r}")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{what}: {path!r} is not a ZeroMQ certificate ({exc})") from None
    if public is None:
        raise ValueError(f"{what}: {path!r} has no public-key")
    return public, secret


def _read_secret_key(path: str, what: str) -> tuple[bytes, bytes]:
    """A secret key file: a ZeroMQ secret certificate, or the Z85 secret key alone.
    Returns (public, secret); the public key is derived from the secret one."""
    if not os.path.isfile(path):
        raise ValueError(f"{what}: no such file {path!r}")
    try:
        with open(path, "rb") as fh:
            text = fh.read(64 * 1024)
    except OSError as exc:
        raise ValueError(f"{what}: {path!r} cannot be read ({exc})") from None
    if b"secret-key" not in text:
        secret = _z85_key(text.decode("ascii", "replace"), f"{what} ({path})")
    else:
        _, found = _read_certificate(path, what)
        if found is None:
            raise ValueError(f"{what}: {path!r} has no secret-key")
        secret = found
    return zmq.curve_public(secret), secret


@attrs.frozen
class CurveKeys:
    """Resolved CURVE keys, Z85-encoded bytes as pyzmq takes them."""

    server_public: bytes
    client_public: bytes
    client_secret: bytes = attrs.field(repr=False)


@attrs.frozen
class CurveConfig:
    """CURVE encryption and authentication of the connection to the publishers.

    The publisher's public key comes from ``server_key`` (Z85 text, e.g.
    ``${FEED_SERVER_KEY}``) or ``server_key_file`` (a ZeroMQ certificate file, as
    written by ``zmq.auth.create_certificates``). The client key pair comes from
    ``client_public_key`` + ``client_secret_key``, or ``client_key_file`` (a secret
    certificate, ``*.key_secret``); with neither, a fresh pair is made for each
    connection (enough when the publisher does not check client keys).
    """

    #: The publisher's public key, Z85 text (40 characters).
    server_key: str | None = None
    #: A ZeroMQ certificate file holding the publisher's public key.
    server_key_file: str | None = None
    #: Our public key, Z85 text; goes with ``client_secret_key``.
    client_public_key: str | None = None
    #: Our secret key, Z85 text (write it as ``${VAR}``).
    client_secret_key: Secret | None = None
    #: Our secret certificate file (``*.key_secret``), instead of the two keys.
    client_key_file: str | None = None
    #: Another name for ``server_key`` (the publisher's public key, Z85).
    server_public_key: str | None = None
    #: The client's secret key in a file: a ZeroMQ secret certificate (``*.key_secret``)
    #: or the 40-character Z85 secret key alone; the public key is derived from it.
    client_secret_key_file: str | None = None

    def __attrs_post_init__(self) -> None:
        self.resolve()  # report bad keys and files when the configuration is read

    def resolve(self) -> CurveKeys:
        """Read and check the keys (files are read here); raise ``ValueError``."""
        given = [v for v in (self.server_key, self.server_public_key, self.server_key_file)
                 if v is not None]
        if len(given) != 1:
            raise ValueError("curve: give exactly one of server_key or server_key_file "
                             "(server_public_key is another name for server_key)")
        if self.server_key_file is not None:
            server, _ = _read_certificate(self.server_key_file, "curve.server_key_file")
        else:
            name = "server_key" if self.server_key is not None else "server_public_key"
            server = _z85_key(given[0], f"curve.{name}")
        inline = (self.client_public_key, self.client_secret_key)
        files = [f for f in (self.client_key_file, self.client_secret_key_file) if f is not None]
        if files and (len(files) > 1 or any(v is not None for v in inline)):
            raise ValueError("curve: give one of client_key_file, client_secret_key_file, or "
                             "client_public_key and client_secret_key")
        if self.client_secret_key_file is not None:
            public, secret = _read_secret_key(self.client_secret_key_file,
                                              "curve.client_secret_key_file")
        elif self.client_key_file is not None:
            public, found = _read_certificate(self.client_key_file, "curve.client_key_file")
            if found is None:
                raise ValueError(f"curve.client_key_file: {self.client_key_file!r} has no "
                                 "secret-key (use the .key_secret file)")
            secret = found
        elif all(v is not None for v in inline):
            assert self.client_public_key is not None and self.client_secret_key is not None
            public = _z85_key(self.client_public_key, "curve.client_public_key")
            secret = _z85_key(self.client_secret_key.get_secret_value(),
                              "curve.client_secret_key")
        elif any(v is not None for v in inline):
            raise ValueError("curve: client_public_key and client_secret_key go together")
        else:
            public, secret = zmq.curve_keypair()
        return CurveKeys(server, public, secret)


def _endpoints(instance: Any, attribute: Any, value: list[str]) -> None:
    if not value:
        raise ValueError("endpoints: give at least one publisher endpoint (tcp://host:port "
                         "or ipc:///path)")
    for endpoint in value:
        if not endpoint.startswith(_SCHEMES):
            raise ValueError(f"endpoint {endpoint!r} must start with tcp:// or ipc://")
    if len(set(value)) != len(value):
        raise ValueError("endpoints: the same endpoint is listed twice")


def _positive(instance: Any, attribute: Any, value: float | int | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _not_negative(instance: Any, attribute: Any, value: float | int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _normalizer_refs(instance: Any, attribute: Any, value: dict[str, str]) -> None:
    for kind, ref in value.items():
        module, _, name = ref.partition(":")
        if not module or not name:
            raise ValueError(f"normalizers.{kind}: expected 'package.module:function', got {ref!r}")


def load_normalizer(ref: str) -> Callable[[dict[str, Any]], Any]:
    """Import ``package.module:function``; raise ``ValueError`` saying what failed."""
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"normalizer {ref!r} cannot be loaded: {exc}") from exc
    if not callable(obj):
        raise ValueError(f"normalizer {ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


@attrs.frozen
class ZmqConfig:
    """Settings of one ZeroMQ feed connector. Only ``endpoints`` is required."""

    #: The earlier system's environment variables fill what the YAML leaves out
    #: (ZMQ_ENDPOINTS=tcp://a:5555,tcp://b:5556).
    __stockfish_compat__ = ConfigCompat(env={"endpoints": ("ZMQ_ENDPOINTS",),
                                             "feed_type": ("ZMQ_FEED_TYPE",)})

    #: Publisher endpoints to connect to (each is one sequence space, its ``stream``).
    endpoints: list[str] = attrs.field(validator=_endpoints)
    #: Snapshot service (ROUTER) of each publisher, by publisher endpoint.
    snapshot_endpoints: dict[str, str] = attrs.Factory(dict)
    #: Shorthand for ``snapshot_endpoints`` when there is one publisher endpoint.
    snapshot_endpoint: str | None = None
    #: Seconds to wait for a snapshot reply before asking again.
    snapshot_timeout: float = attrs.field(default=2.0, validator=_positive)
    #: Receive every topic instead of the subscribed symbols only.
    subscribe_all: bool = False
    #: Also receive single-frame JSON messages sent without a topic (they start with
    #: ``{``); the subscribed symbols are kept from them. False: only topic-prefixed
    #: messages pass the socket's filter (less traffic from a publisher of many symbols).
    bare_json: bool = True
    #: Accept only this message type (ticker, depth, trade, bar, news, macro, custom).
    feed_type: str | None = None
    #: A label for this feed in log lines (default: the connector name).
    feed_name: str | None = None
    #: Reorder buffer: messages held per symbol while one is missing, and for how long.
    reorder_buffer: int = attrs.field(default=64, validator=_not_negative)
    #: Seconds a message waits in the reorder buffer for a missing one.
    reorder_wait: float = attrs.field(default=0.05, validator=_not_negative)
    #: Without a ``session`` field, a fall of more than this many numbers is a restart.
    sequence_reset_window: int = attrs.field(default=10_000, validator=_positive)
    #: ZeroMQ receive high-water mark per publisher (messages; 0 = no limit).
    rcvhwm: int = attrs.field(default=100_000, validator=_not_negative)
    #: Largest message accepted, in bytes; a publisher sending more is disconnected.
    max_message_size: int = attrs.field(default=1_048_576, validator=_positive)
    #: Messages read from a socket before they are handed on as one batch.
    batch_size: int = attrs.field(default=1000, validator=_positive)
    #: "loop" reads on the event loop (add_reader), "thread" in a receiving thread;
    #: "auto" takes "loop" when the event loop supports readers.
    receive_mode: str = attrs.field(
        default="auto", validator=lambda _i, _a, v: _choice("receive_mode", v,
                                                           ("auto", "loop", "thread"))
    )
    #: Receive, decode, sequence and normalize this feed in a child process; the
    #: manager's loop only builds the updates of each batch. Frees about half the
    #: manager's CPU per message for about 1.5x the total CPU: for feeds that together
    #: exceed one core. Not with a snapshot service (snapshot_endpoint(s)).
    worker: bool = False
    #: Levels per side in an emitted book (a subscription's depth overrides it).
    book_depth: int = attrs.field(default=10, validator=_positive)
    #: Levels per side kept in a maintained book.
    max_book_levels: int = attrs.field(default=1000, validator=_positive)
    #: Depth updates kept while a book waits for a snapshot.
    max_pending_depth: int = attrs.field(default=10_000, validator=_positive)
    #: Symbols tracked per publisher with subscribe_all (new ones beyond are refused).
    max_symbols: int = attrs.field(default=10_000, validator=_positive)
    #: Seconds without any message from a publisher before it is reported stale.
    staleness: float | None = attrs.field(default=None, validator=_positive)
    #: ZMTP heartbeats: a silent dead connection is dropped after heartbeat_timeout.
    heartbeat_interval: float | None = attrs.field(default=1.0, validator=_positive)
    #: Seconds without a heartbeat reply before the connection is dropped
    #: (default: three heartbeat intervals).
    heartbeat_timeout: float | None = attrs.field(default=None, validator=_positive)
    #: Reconnect delays after a publisher goes away (seconds).
    reconnect_interval: float = attrs.field(default=0.1, validator=_positive)
    #: Longest reconnect delay (the delay doubles up to it).
    reconnect_interval_max: float = attrs.field(default=5.0, validator=_positive)
    #: Message ``type`` -> ``"package.module:function"`` turning such a message into
    #: a payload (see the README, "Your own message types").
    normalizers: dict[str, str] = attrs.field(factory=dict, validator=_normalizer_refs)
    #: CURVE encryption and authentication (see ``curve.*``); none: plain TCP.
    curve: CurveConfig | None = None

    def __attrs_post_init__(self) -> None:
        if self.snapshot_endpoint is not None:
            if len(self.endpoints) != 1:
                raise ValueError("snapshot_endpoint is for a single endpoint; with several, "
                                 "map each publisher in snapshot_endpoints")
            if self.snapshot_endpoints:
                raise ValueError("give snapshot_endpoint or snapshot_endpoints, not both")
        if self.worker and (self.snapshot_endpoint is not None or self.snapshot_endpoints):
            raise ValueError("worker: true does not take a snapshot service "
                             "(snapshot_endpoint / snapshot_endpoints) yet; keep the feed "
                             "in process")
        for publisher, snapshot in self.snapshot_endpoints.items():
            if publisher not in self.endpoints:
                raise ValueError(f"snapshot_endpoints: {publisher!r} is not one of endpoints")
            if not snapshot.startswith(_SCHEMES):
                raise ValueError(f"snapshot endpoint {snapshot!r} must start with tcp:// or "
                                 "ipc://")
        if self.feed_type is not None and self.feed_type not in KINDS:
            raise ValueError(f"feed_type must be one of {', '.join(sorted(KINDS))}, "
                             f"got {self.feed_type!r}")

    def snapshot_for(self, endpoint: str) -> str | None:
        """The snapshot service of a publisher endpoint, if it has one."""
        if self.snapshot_endpoint is not None:
            return self.snapshot_endpoint
        return self.snapshot_endpoints.get(endpoint)
