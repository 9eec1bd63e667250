"""The ``fix`` connector's settings, as written in the YAML ``connectors:`` section.

::

    connectors:
      broker_fix:
        plugin: fix
        host: fix.broker.example
        port: 9876
        begin_string: FIX.4.4            # FIX.4.2, FIX.4.4 or FIXT.1.1 (FIX 5.0SP2)
        sender_comp_id: STOCKFISH
        target_comp_id: BROKER
        username: ${FIX_USERNAME}        # Username (553)
        password: ${FIX_PASSWORD}        # Password (554); never in stockfish's logs
        alternate_hosts: [{host: fix2.broker.example, port: 9876}]
        file_store_path: /var/lib/stockfish/fix   # sequence numbers survive restarts

The QuickFIX session settings are generated from this (:mod:`stockfish_fix.settings`); a
QuickFIX ``.cfg`` file is never written by hand. Anything QuickFIX understands that is not
modelled here goes in ``extra_settings`` and overrides what the connector generates.

QuickFIX itself writes the Logon, password included, to its store and message log; see
:mod:`stockfish_fix.storage` for how those files are kept private.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from stockfish_core.plugin_api import Capabilities, ConfigCompat, KeyAlias, OrderType, Secret

from .dictionaries import APPL_VER_IDS, BEGIN_STRINGS

__all__ = ["FixConfig", "HostPort", "ReconnectMode", "StoreKind"]

#: Settings that identify the session; they are fields of FixConfig, not extra settings.
_RESERVED = frozenset({
    "ConnectionType", "BeginString", "SenderCompID", "TargetCompID", "SessionQualifier",
})


class StoreKind(str, enum.Enum):
    """Where QuickFIX keeps sequence numbers and sent messages."""

    FILE = "file"
    MEMORY = "memory"


class ReconnectMode(str, enum.Enum):
    """Who reconnects a lost session.

    ``manager`` (the default): the connector reports DISCONNECTED and the manager
    reconnects (disconnect, then connect, with backoff), subscribes again and reconciles
    its open orders. ``session``: the connector reconnects by itself, with exponential
    backoff, reporting RECONNECTING meanwhile; once it reports CONNECTED again the
    manager subscribes again and reconciles its open orders, as in the other mode (the
    core owns both).
    """

    SESSION = "session"
    MANAGER = "manager"


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")


@attrs.frozen
class HostPort:
    """An alternate address of the counterparty, tried in order after the main one."""

    #: Host of the alternate acceptor.
    host: str
    #: Its TCP port.
    port: int

    def __attrs_post_init__(self) -> None:
        _check_port(self.port)


def _settings_value(value: Any) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(f"a QuickFIX setting is a string, number or boolean, got {value!r}")


def _extra_settings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError("extra_settings must be a mapping of QuickFIX setting: value")
    out = {}
    for key, item in value.items():
        if key in _RESERVED:
            raise ValueError(
                f"extra_settings may not set {key}; use the connector's own setting "
                "(begin_string, sender_comp_id, target_comp_id)"
            )
        out[str(key)] = _settings_value(item)
    return out


def _tag_values(value: Any) -> dict[int, str]:
    if not isinstance(value, Mapping):
        raise ValueError("order_fields must be a mapping of tag: value")
    return {int(tag): _settings_value(item) for tag, item in value.items()}


@attrs.frozen
class FixConfig:
    """One FIX session to one counterparty."""

    #: The earlier system's key names and environment variables (see stockfish_core.config).
    __stockfish_compat__ = ConfigCompat(
        aliases={"version": KeyAlias("begin_string", {
            "FIX42": "FIX.4.2", "FIX44": "FIX.4.4", "FIX50": "FIXT.1.1", "FIX50SP2": "FIXT.1.1",
            "FIX.4.2": "FIX.4.2", "FIX.4.4": "FIX.4.4", "FIX.5.0SP2": "FIXT.1.1",
        })},
        env={"host": ("FIX_HOST",), "port": ("FIX_PORT",),
             "sender_comp_id": ("FIX_SENDER_ID",), "target_comp_id": ("FIX_TARGET_ID",)},
    )

    #: SenderCompID (49) of our messages.
    sender_comp_id: str
    #: TargetCompID (56) of our messages: the counterparty.
    target_comp_id: str
    #: TCP port of the counterparty's FIX acceptor.
    port: int
    #: Host of the counterparty's FIX acceptor.
    host: str = "127.0.0.1"
    #: FIX.4.2, FIX.4.4, or FIXT.1.1 for FIX 5.0 application messages.
    begin_string: str = "FIX.4.4"
    #: The application version over FIXT.1.1 (DefaultApplVerID).
    default_appl_ver_id: str = "FIX.5.0SP2"
    #: HeartBtInt (108), seconds.
    heartbeat_interval: int = 30
    #: Reset sequence numbers to 1 at every Logon (ResetOnLogon).
    reset_on_logon: bool = False
    #: Reset sequence numbers after a Logout (ResetOnLogout).
    reset_on_logout: bool = False
    #: Reset sequence numbers when the connection drops (ResetOnDisconnect).
    reset_on_disconnect: bool = False
    #: Username (553) of the Logon; use ${ENV_VAR} in the YAML.
    username: Secret | None = None
    #: Password (554) of the Logon; never shown in a log line, repr or error.
    password: Secret | None = None
    #: More Logon fields, tag: value (RawData 96, a token...); values are kept secret.
    logon_fields: dict[int, Secret] = attrs.field(factory=dict)
    #: Tried in order after host/port (QuickFIX SocketConnectHost1.. / Port1..).
    alternate_hosts: list[HostPort] = attrs.field(factory=list)
    #: Where sequence numbers and sent messages are kept: ``file`` (they survive
    #: restarts) or ``memory``.
    store: StoreKind = StoreKind.FILE
    #: Directory of the FileStore; default: $XDG_STATE_HOME/stockfish/fix/<connector>.
    file_store_path: str | None = None
    #: Directory of the QuickFIX message and event logs (none when unset).
    log_path: str | None = None
    #: Data dictionary file (or directory) instead of the one installed with quickfix.
    #: QuickFIX validates messages with it and needs it to read repeating groups.
    data_dictionary: str | None = None
    #: FIXT11.xml override, for FIXT.1.1 sessions.
    transport_data_dictionary: str | None = None
    #: Who reconnects a lost session: ``manager`` (the default) or ``session``
    #: (the connector alone, for use without a manager).
    reconnect: ReconnectMode = ReconnectMode.MANAGER
    #: Backoff between reconnect attempts (reconnect: session), seconds.
    reconnect_initial_delay: float = 1.0
    #: Longest wait between reconnect attempts (reconnect: session), seconds.
    reconnect_max_delay: float = 30.0
    #: Seconds the connect hook waits for the Logon reply.
    logon_timeout: float = 10.0
    #: Seconds a ResendRequest of ours may stay unanswered, with the counterparty's
    #: messages queued behind the gap and none of them processed, before the session is
    #: reported lost (and reconnected). Each answered message restarts the wait.
    resend_timeout: float = 10.0
    #: Account (1) on every order, unless the order names its own.
    account: str | None = None
    #: HandlInst (21); FIX 4.2 requires it.
    handl_inst: str | None = "1"
    #: Extra fields on every NewOrderSingle, tag: value (ExDestination 100...).
    order_fields: dict[int, Any] = attrs.field(factory=dict, converter=_tag_values)
    #: Let QuickFIX resend orders the counterparty missed (PossDupFlag=Y) when it asks
    #: for a resend. Off by default: a stale order is gap-filled and reconciled instead.
    resend_orders: bool = False
    #: Levels asked for when an order-book subscription gives no depth.
    default_depth: int = 10
    #: The counterparty answers RequestForPositions (AN) and OrderMassStatusRequest (AF)
    #: (FIX 4.4 and 5.0): the manager then checks positions against the venue's and asks
    #: for the status of every order after each logon. The request's Account is
    #: ``account``, else ``sender_comp_id``.
    venue_state: bool = False
    #: The counterparty answers SecurityDefinitionRequest (c) with a SecurityDefinition
    #: (d), FIX 4.4 and 5.0: ``manager.instrument`` (and the tick check) then asks it for
    #: tick size (MinPriceIncrement, 5.0), lot (RoundLot, else MinTradeVol), multiplier,
    #: currency and exchange; what it leaves out comes from the configuration.
    security_definitions: bool = False
    #: The counterparty takes trailing stops as OrdType P (pegged) with ExecInst a
    #: (trailing stop peg) and PegOffsetValue (211; PegOffsetType 836 = 1, basis points,
    #: for a percentage), FIX 4.4 and 5.0: the connector then takes TRAILING_STOP orders
    #: (without it the manager refuses them before they leave).
    trailing_stops: bool = False
    #: QuickFIX session settings, passed through; they override generated ones.
    extra_settings: dict[str, Any] = attrs.field(factory=dict, converter=_extra_settings)

    def __attrs_post_init__(self) -> None:
        _check_port(self.port)
        for name in ("sender_comp_id", "target_comp_id", "host"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")
        if self.begin_string not in BEGIN_STRINGS:
            raise ValueError(
                f"begin_string must be one of {', '.join(BEGIN_STRINGS)}, "
                f"got {self.begin_string!r}"
            )
        if self.default_appl_ver_id not in APPL_VER_IDS:
            raise ValueError(
                f"default_appl_ver_id must be one of {', '.join(APPL_VER_IDS)}, "
                f"got {self.default_appl_ver_id!r}"
            )
        if self.heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be positive, got {self.heartbeat_interval}")
        if not 0 < self.reconnect_initial_delay <= self.reconnect_max_delay:
            raise ValueError("reconnect delays must satisfy 0 < initial <= max")
        if self.logon_timeout <= 0:
            raise ValueError(f"logon_timeout must be positive, got {self.logon_timeout}")
        if not self.resend_timeout > 0:
            raise ValueError(f"resend_timeout must be positive, got {self.resend_timeout}")
        if self.default_depth <= 0:
            raise ValueError(f"default_depth must be positive, got {self.default_depth}")
        if self.trailing_stops and self.begin_string == "FIX.4.2":
            raise ValueError("trailing_stops: FIX 4.2 has no trailing stop peg (ExecInst a); "
                             "use FIX.4.4 or FIXT.1.1")

    def connector_capabilities(self, declared: Capabilities) -> Capabilities:
        """TRAILING_STOP only where ``trailing_stops`` says the counterparty takes it."""
        if self.trailing_stops:
            return declared
        return attrs.evolve(declared,
                            order_types=declared.order_types - {OrderType.TRAILING_STOP})

    @property
    def fixt(self) -> bool:
        """Whether the session is FIXT.1.1 (FIX 5.0 application messages)."""
        return self.begin_string == "FIXT.1.1"

    @property
    def application_version(self) -> str:
        """The FIX version of application messages: the BeginString, or the ApplVerID."""
        return self.default_appl_ver_id if self.fixt else self.begin_string

    def logon_values(self) -> dict[int, str]:
        """The fields our Logon carries beyond the session's own (secrets revealed)."""
        values: dict[int, str] = {}
        if self.username is not None:
            values[553] = self.username.get_secret_value()
        if self.password is not None:
            values[554] = self.password.get_secret_value()
        for tag, secret in self.logon_fields.items():
            values[tag] = secret.get_secret_value()
        return values
