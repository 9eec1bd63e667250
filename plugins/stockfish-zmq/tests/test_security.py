"""CURVE: an encrypted, authenticated feed is received; a publisher with the wrong key,
without CURVE, or refusing this client's key gets no message accepted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import zmq
import zmq.auth

from stockfish_core import ConnectorStatus, PluginRegistry, Subscription
from stockfish_core.config import parse_config
from stockfish_core.errors import ConfigError
from stockfish_zmq import plugin
from stockfish_zmq.config import ZmqConfig
from stockfish_zmq.testing import errors_with, subscribe_and_wait, zmq_harness
from stockfish_zmq.testing.publisher import Publisher
from stockfish_zmq.testing.synthetic import SyntheticMarket

Factory = Callable[..., Publisher]


def curve_settings(server_public: bytes, client: tuple[bytes, bytes] | None = None) -> dict:
    public, secret = client or zmq.curve_keypair()
    return {"server_key": server_public.decode(), "client_public_key": public.decode(),
            "client_secret_key": secret.decode()}


async def test_curve_feed_is_received(publisher_factory: Factory) -> None:
    server_public, server_secret = zmq.curve_keypair()
    pub = publisher_factory(curve_secret_key=server_secret)
    async with zmq_harness([pub.endpoint], curve=curve_settings(server_public)) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("BTCUSD"))
        pub.publish("ticker", "BTCUSD", {"bid": 1.0, "ask": 1.5})
        update = await h.next_update(5)
        assert update.payload.ask == 1.5 and update.stream == pub.endpoint
        assert not errors_with(h, "handshake_failed")


@pytest.mark.parametrize("impostor", ["wrong key", "no curve"])
async def test_a_publisher_without_the_right_key_gets_nothing_accepted(
        publisher_factory: Factory, impostor: str) -> None:
    server_public, server_secret = zmq.curve_keypair()
    good = publisher_factory(curve_secret_key=server_secret)
    if impostor == "wrong key":
        bad = publisher_factory(curve_secret_key=zmq.curve_keypair()[1])
    else:
        bad = publisher_factory()
    # The impostor streams the same symbol all along; the real one is what arrives.
    bad.stream(SyntheticMarket(["BTCUSD"], ("ticker",)), rate=2000)
    async with zmq_harness([bad.endpoint, good.endpoint], curve=curve_settings(server_public),
                           reconnect_interval=0.05) as h:
        await h.connect()
        await subscribe_and_wait(h, good, Subscription("BTCUSD"))
        await h.listener.wait_for(lambda: errors_with(h, "handshake_failed"), 10,
                                  "a handshake failure report")
        for i in range(20):
            good.publish("ticker", "BTCUSD", {"last": float(i)})
        updates = [await h.next_update(5) for _ in range(20)]
        assert {u.stream for u in updates} == {good.endpoint}
        assert [u.payload.last for u in updates] == [float(i) for i in range(20)]
        (failure, *_) = errors_with(h, "handshake_failed")
        assert bad.endpoint in failure.message and "curve.server_key" in failure.message
        assert h.connector.state.stats.handshake_failures >= 1
        assert h.connector.state.up == {bad.endpoint: False, good.endpoint: True}
        assert bad.subscribed(b"BTCUSD") == 0  # it never even saw the subscription
        assert bad.sent > 0 and all(u.stream != bad.endpoint for u in h.listener.updates)


async def test_a_publisher_refusing_this_client_key_sends_nothing(publisher_factory: Factory
                                                                  ) -> None:
    server_public, server_secret = zmq.curve_keypair()
    allowed = zmq.curve_keypair()
    pub = publisher_factory(curve_secret_key=server_secret, allowed_client_keys=[allowed[0]])
    async with zmq_harness([pub.endpoint], name="stranger",
                           curve=curve_settings(server_public)) as stranger, \
            zmq_harness([pub.endpoint], name="member",
                        curve=curve_settings(server_public, allowed)) as member:
        await stranger.call("stockfish_connect")  # it never reaches CONNECTED
        await member.connect()
        await stranger.subscribe(Subscription("X"))
        await subscribe_and_wait(member, pub, Subscription("X"))
        await stranger.listener.wait_for(lambda: errors_with(stranger, "handshake_failed"), 10,
                                         "the stranger's handshake failure")
        pub.publish("ticker", "X", {"last": 7.0})
        assert (await member.next_update(5)).payload.last == 7.0
        assert stranger.connector.status is ConnectorStatus.CONNECTING
        assert not stranger.listener.updates
        assert pub.subscribed(b"X") == 1


async def test_keys_from_certificate_files(publisher_factory: Factory, tmp_path: Path) -> None:
    server_pub_file, server_secret_file = zmq.auth.create_certificates(str(tmp_path), "server")
    _, client_secret_file = zmq.auth.create_certificates(str(tmp_path), "client")
    _, server_secret = zmq.auth.load_certificate(server_secret_file)
    assert server_secret is not None
    pub = publisher_factory(curve_secret_key=server_secret)
    curve = {"server_key_file": server_pub_file, "client_key_file": client_secret_file}
    async with zmq_harness([pub.endpoint], curve=curve) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("X"))
        pub.publish("ticker", "X", {"last": 1.0})
        assert (await h.next_update(5)).payload.last == 1.0


def test_keys_from_the_environment_stay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    server_public, _ = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    monkeypatch.setenv("FEED_SERVER_KEY", server_public.decode())
    monkeypatch.setenv("FEED_CLIENT_SECRET", client_secret.decode())
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    config = parse_config({"connectors": {"crypto": {
        "plugin": "zmq", "endpoints": ["tcp://127.0.0.1:5555"],
        "curve": {"server_key": "${FEED_SERVER_KEY}",
                  "client_public_key": client_public.decode(),
                  "client_secret_key": "${FEED_CLIENT_SECRET}"}}}}, registry=registry)
    zcfg = config.connectors["crypto"].config
    assert isinstance(zcfg, ZmqConfig) and zcfg.curve is not None
    keys = zcfg.curve.resolve()
    assert (keys.server_public, keys.client_secret) == (server_public, client_secret)
    assert client_secret.decode() not in repr(zcfg)


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ({}, "exactly one of server_key or server_key_file"),
        ({"server_key": "short"}, "40-character"),
        ({"server_key_file": "/nonexistent/server.key"}, "no such file"),
        ({"server_key": "x" * 40, "client_public_key": "y" * 40}, "go together"),
    ],
)
def test_bad_curve_settings_are_configuration_errors(curve: dict, message: str) -> None:
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    with pytest.raises(ConfigError, match=message):
        parse_config({"connectors": {"zmq": {"endpoints": ["tcp://127.0.0.1:1"],
                                             "curve": curve}}}, registry=registry)


def test_the_readme_configuration_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    server_public, _ = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    monkeypatch.setenv("FEED_SERVER_PUBLIC_KEY", server_public.decode())
    monkeypatch.setenv("FEED_CLIENT_PUBLIC_KEY", client_public.decode())
    monkeypatch.setenv("FEED_CLIENT_SECRET_KEY", client_secret.decode())
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    config = parse_config(yaml.safe_load(block), registry=registry)
    zcfg = config.connectors["zmq_crypto"].config
    assert zcfg.snapshot_for("tcp://10.0.0.5:5555") == "tcp://10.0.0.5:5556"
    assert zcfg.snapshot_for("ipc:///run/feeds/backup.sock") is None
    assert [s.symbols for s in config.subscriptions] == [["BTCUSD", "ETHUSD"], ["BTCUSD"]]


def _uncommented_curve_example(server_public: bytes, secret_file: Path,
                               monkeypatch: pytest.MonkeyPatch) -> dict:
    """examples/config/zmq.yaml with its commented curve section switched on, as a user
    would: the server key from the environment, the client's secret key in a file."""
    import yaml

    example = Path(__file__).resolve().parents[3] / "examples" / "config" / "zmq.yaml"
    lines = []
    for line in example.read_text().splitlines():
        stripped = line.lstrip()
        if stripped.startswith("# curve:") or stripped.startswith("#   "):
            indent = line[: len(line) - len(stripped)]
            line = indent + stripped[2:].split("  #")[0].rstrip()
        lines.append(line)
    text = "\n".join(lines).replace("/etc/stockfish/client.key_secret", str(secret_file))
    monkeypatch.setenv("ZMQ_SERVER_KEY", server_public.decode())
    loaded = yaml.safe_load(text)
    (section,) = loaded["connectors"].values()
    assert set(section["curve"]) == {"server_public_key", "client_secret_key_file"}
    return loaded


@pytest.mark.parametrize("secret_file_kind", ["certificate", "z85 key"])
async def test_the_example_config_curve_keys_are_accepted_and_used(
        publisher_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        secret_file_kind: str) -> None:
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    if secret_file_kind == "certificate":
        _, secret_file = zmq.auth.create_certificates(str(tmp_path), "client")
        client_public, secret = zmq.auth.load_certificate(secret_file)
        assert secret is not None
        path = Path(secret_file)
    else:
        path = tmp_path / "client.key_secret"
        path.write_text(client_secret.decode() + "\n")
    loaded = _uncommented_curve_example(server_public, path, monkeypatch)
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    config = parse_config(loaded, registry=registry)
    zcfg = config.connectors["crypto"].config
    assert isinstance(zcfg, ZmqConfig) and zcfg.curve is not None
    keys = zcfg.curve.resolve()
    assert keys.server_public == server_public and keys.client_public == client_public
    # The publisher accepts only this client's key: the keys from the file are the ones used.
    pub = publisher_factory(curve_secret_key=server_secret, allowed_client_keys=[client_public])
    curve = {"server_public_key": zcfg.curve.server_public_key,
             "client_secret_key_file": zcfg.curve.client_secret_key_file}
    async with zmq_harness([pub.endpoint], curve=curve) as h:
        await h.connect()
        await subscribe_and_wait(h, pub, Subscription("BTCUSD"))
        pub.publish("ticker", "BTCUSD", {"bid": 1.0, "ask": 1.5})
        assert (await h.next_update(5)).payload.ask == 1.5
        assert not errors_with(h, "handshake_failed")


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ({"server_key": "x" * 40, "server_public_key": "x" * 40}, "exactly one of"),
        ({"server_public_key": "x" * 40, "client_secret_key_file": "/nonexistent/c"},
         "no such file"),
    ],
)
def test_bad_curve_aliases_are_configuration_errors(curve: dict, message: str) -> None:
    registry = PluginRegistry(entry_points=())
    registry.register(plugin, "zmq")
    with pytest.raises(ConfigError, match=message):
        parse_config({"connectors": {"zmq": {"endpoints": ["tcp://127.0.0.1:1"],
                                             "curve": curve}}}, registry=registry)
