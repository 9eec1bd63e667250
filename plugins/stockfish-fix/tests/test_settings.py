"""QuickFIX settings generated from the connector's config, and the data dictionaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import quickfix

from stockfish_core.config import structure_plugin_config
from stockfish_fix.config import FixConfig
from stockfish_fix.dictionaries import (
    SPEC_DIR_ENV,
    DictionaryNotFound,
    dictionary_file,
    find_dictionary,
    search_dirs,
)
from stockfish_fix.settings import default_store_path, initiator_settings


def config(**settings: Any) -> FixConfig:
    base = {"sender_comp_id": "ME", "target_comp_id": "THEM", "port": 9876,
            "host": "fix.example", "file_store_path": "/tmp/store"}
    base.update(settings)
    result: FixConfig = structure_plugin_config(FixConfig, base, "connectors.fix")
    return result


def test_fix44_session() -> None:
    generated = initiator_settings(config(heartbeat_interval=15, reset_on_logon=True), "broker")
    (session,) = generated.sessions
    assert session["ConnectionType"] == "initiator"
    assert (session["BeginString"], session["SenderCompID"], session["TargetCompID"]) == (
        "FIX.4.4", "ME", "THEM")
    assert (session["SocketConnectHost"], session["SocketConnectPort"]) == ("fix.example", "9876")
    assert session["HeartBtInt"] == "15"
    assert (session["ResetOnLogon"], session["ResetOnLogout"], session["ResetOnDisconnect"]) == (
        "Y", "N", "N")
    assert session["FileStorePath"] == "/tmp/store"
    assert session["NonStopSession"] == "Y"
    assert session["SocketNodelay"] == "Y"
    assert session["UseDataDictionary"] == "Y"
    assert Path(session["DataDictionary"]).name == "FIX44.xml"
    assert Path(session["DataDictionary"]).is_file()
    assert "DefaultApplVerID" not in session
    assert "FileLogPath" not in generated.defaults


def test_fixt_session_uses_transport_and_application_dictionaries() -> None:
    (session,) = initiator_settings(config(begin_string="FIXT.1.1"), "broker").sessions
    assert session["BeginString"] == "FIXT.1.1"
    assert session["DefaultApplVerID"] == "FIX.5.0SP2"
    assert Path(session["TransportDataDictionary"]).name == "FIXT11.xml"
    assert Path(session["AppDataDictionary"]).name == "FIX50SP2.xml"
    assert "DataDictionary" not in session


def test_alternate_hosts_become_numbered_addresses() -> None:
    (session,) = initiator_settings(config(alternate_hosts=[
        {"host": "b.example", "port": 1001}, {"host": "c.example", "port": 1002},
    ]), "broker").sessions
    assert (session["SocketConnectHost1"], session["SocketConnectPort1"]) == ("b.example", "1001")
    assert (session["SocketConnectHost2"], session["SocketConnectPort2"]) == ("c.example", "1002")


def test_extra_settings_override_and_a_schedule_replaces_the_non_stop_session() -> None:
    (session,) = initiator_settings(config(extra_settings={
        "StartTime": "08:00:00", "EndTime": "17:00:00", "SocketNodelay": False,
    }), "broker").sessions
    assert session["StartTime"] == "08:00:00"
    assert session["SocketNodelay"] == "N"
    assert "NonStopSession" not in session


def test_log_path_in_defaults_and_store_default(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    generated = initiator_settings(config(file_store_path=None, log_path=str(tmp_path / "log")),
                                   "broker")
    assert generated.defaults["FileLogPath"] == str(tmp_path / "log")
    assert generated.sessions[0]["FileStorePath"] == str(tmp_path / "stockfish" / "fix" / "broker")
    assert default_store_path("x") == tmp_path / "stockfish" / "fix" / "x"
    memory = initiator_settings(config(store="memory"), "broker")
    assert "FileStorePath" not in memory.sessions[0]


def test_rendered_settings_load_into_quickfix() -> None:
    generated = initiator_settings(config(begin_string="FIX.4.2", heartbeat_interval=7), "b")
    text = generated.render()
    assert text.startswith("[DEFAULT]\n")
    assert "\n[SESSION]\nConnectionType=initiator\nBeginString=FIX.4.2\n" in text
    loaded = generated.session_settings()
    session_id = quickfix.SessionID("FIX.4.2", "ME", "THEM")
    assert loaded.has(session_id)
    section = loaded.get(session_id)
    assert section.getString("HeartBtInt") == "7"
    assert section.getString("SocketConnectHost") == "fix.example"
    assert generated.value("HeartBtInt") == "7"


def test_a_setting_with_a_newline_is_refused() -> None:
    generated = initiator_settings(config(extra_settings={"Foo": "a\nBeginString=X"}), "b")
    with pytest.raises(ValueError, match="invalid QuickFIX setting"):
        generated.session_settings()


def test_dictionaries_are_found_where_quickfix_installed_them() -> None:
    for version in ("FIX.4.2", "FIX.4.4", "FIXT.1.1", "FIX.5.0SP2"):
        path = find_dictionary(version)
        assert path.is_file()
        assert path.name == dictionary_file(version)
    assert dictionary_file("FIX.5.0SP2") == "FIX50SP2.xml"
    assert any(d.parts[-2:] == ("share", "quickfix") for d in search_dirs())


def test_dictionary_override_file_directory_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "FIX44.xml"
    own.write_bytes(find_dictionary("FIX.4.4").read_bytes())
    assert find_dictionary("FIX.4.4", str(own)) == own.resolve()
    assert find_dictionary("FIX.4.4", str(tmp_path)) == own.resolve()
    with pytest.raises(DictionaryNotFound, match="does not exist"):
        find_dictionary("FIX.4.2", str(tmp_path))
    monkeypatch.setenv(SPEC_DIR_ENV, str(tmp_path))
    assert search_dirs()[0] == tmp_path
    assert find_dictionary("FIX.4.4") == own
    (session,) = initiator_settings(config(data_dictionary=str(own)), "b").sessions
    assert session["DataDictionary"] == str(own.resolve())


def test_a_missing_dictionary_says_where_it_looked(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPEC_DIR_ENV, str(tmp_path))
    with pytest.raises(DictionaryNotFound) as info:
        find_dictionary("FIX.9.9")
    assert "FIX99.xml" in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert SPEC_DIR_ENV in str(info.value)
