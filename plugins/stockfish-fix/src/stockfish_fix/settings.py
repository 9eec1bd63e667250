"""QuickFIX session settings, generated from a :class:`~stockfish_fix.config.FixConfig`.

:class:`QuickFixSettings` is a ``[DEFAULT]`` section plus one section per session, as
plain strings; it renders to the QuickFIX ``.cfg`` format (for a look, or a bug report)
and loads into ``quickfix.SessionSettings``. The FIX exchange simulator builds its
acceptor settings with the same pieces.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .config import FixConfig, StoreKind
from .dictionaries import find_dictionary

__all__ = [
    "QuickFixSettings",
    "default_store_path",
    "dictionary_settings",
    "initiator_settings",
    "yes_no",
]


def yes_no(value: bool) -> str:
    return "Y" if value else "N"


@attrs.frozen
class QuickFixSettings:
    """QuickFIX settings as data: ``defaults`` and one mapping per session."""

    defaults: Mapping[str, str]
    sessions: tuple[Mapping[str, str], ...]

    def render(self) -> str:
        """The settings in QuickFIX's ``.cfg`` format."""
        lines = ["[DEFAULT]", *(f"{k}={v}" for k, v in self.defaults.items())]
        for session in self.sessions:
            lines += ["", "[SESSION]", *(f"{k}={v}" for k, v in session.items())]
        return "\n".join(lines) + "\n"

    def session_settings(self) -> Any:
        """A ``quickfix.SessionSettings`` holding these settings."""
        import quickfix

        for section in (self.defaults, *self.sessions):
            for key, value in section.items():
                if "\n" in key or "\n" in value or "=" in key:
                    raise ValueError(f"invalid QuickFIX setting {key!r}={value!r}")
        settings = quickfix.SessionSettings()
        settings.setFromString(self.render())
        return settings

    def value(self, key: str, session: int = 0) -> str | None:
        """A setting as QuickFIX sees it for one session (session first, then defaults)."""
        if self.sessions and key in self.sessions[session]:
            return self.sessions[session][key]
        return self.defaults.get(key)


def default_store_path(connector_name: str) -> Path:
    """``$XDG_STATE_HOME/stockfish/fix/<connector>`` (``~/.local/state`` by default)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "stockfish" / "fix" / connector_name


def dictionary_settings(
    begin_string: str,
    appl_ver_id: str | None = None,
    *,
    data_dictionary: str | None = None,
    transport_data_dictionary: str | None = None,
) -> dict[str, str]:
    """The data dictionary settings of one session (UseDataDictionary and the paths)."""
    out = {"UseDataDictionary": "Y"}
    if begin_string == "FIXT.1.1":
        version = appl_ver_id or "FIX.5.0SP2"
        out["TransportDataDictionary"] = str(
            find_dictionary("FIXT.1.1", transport_data_dictionary)
        )
        out["AppDataDictionary"] = str(find_dictionary(version, data_dictionary))
    else:
        out["DataDictionary"] = str(find_dictionary(begin_string, data_dictionary))
    return out


def _alternates(config: FixConfig) -> Iterable[tuple[str, str]]:
    for index, alt in enumerate(config.alternate_hosts, start=1):
        yield f"SocketConnectHost{index}", alt.host
        yield f"SocketConnectPort{index}", str(alt.port)


def initiator_settings(config: FixConfig, connector_name: str) -> QuickFixSettings:
    """The settings of the initiator for one connector.

    Generated: the session identity, addresses (with alternates), heartbeat, reset flags,
    the store and log paths, the data dictionaries, a non-stop session schedule,
    TCP_NODELAY. ``config.extra_settings`` override any of them.
    """
    session: dict[str, str] = {
        "ConnectionType": "initiator",
        "BeginString": config.begin_string,
        "SenderCompID": config.sender_comp_id,
        "TargetCompID": config.target_comp_id,
    }
    if config.fixt:
        session["DefaultApplVerID"] = config.default_appl_ver_id
    session["SocketConnectHost"] = config.host
    session["SocketConnectPort"] = str(config.port)
    session.update(_alternates(config))
    session.update({
        "HeartBtInt": str(config.heartbeat_interval),
        # QuickFIX looks at disconnected sessions once a second; the connector decides
        # when a session may reconnect (backoff) by enabling it.
        "ReconnectInterval": "1",
        "ResetOnLogon": yes_no(config.reset_on_logon),
        "ResetOnLogout": yes_no(config.reset_on_logout),
        "ResetOnDisconnect": yes_no(config.reset_on_disconnect),
        "SocketNodelay": "Y",
        "LogonTimeout": str(max(1, round(config.logon_timeout))),
        "LogoutTimeout": "2",
        "PersistMessages": "Y",
    })
    if config.store is StoreKind.FILE:
        path = config.file_store_path or str(default_store_path(connector_name))
        session["FileStorePath"] = str(Path(path).expanduser())
    defaults: dict[str, str] = {}
    if config.log_path:
        # The global (not per-session) log of QuickFIX reads it from [DEFAULT].
        defaults["FileLogPath"] = str(Path(config.log_path).expanduser())
    session.update(dictionary_settings(
        config.begin_string, config.default_appl_ver_id,
        data_dictionary=config.data_dictionary,
        transport_data_dictionary=config.transport_data_dictionary,
    ))
    # Venues add their own fields: accept them rather than reject the message.
    session["ValidateUserDefinedFields"] = "N"
    session["AllowUnknownMsgFields"] = "Y"
    extra = config.extra_settings
    if "StartTime" not in extra and "EndTime" not in extra:
        session["NonStopSession"] = "Y"
    session.update(extra)
    return QuickFixSettings(defaults=defaults, sessions=(session,))
