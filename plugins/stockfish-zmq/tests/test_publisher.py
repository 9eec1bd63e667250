"""The shipped publisher, seen from a bare pyzmq subscriber: wire format, snapshot service
(DEALER and REQ clients), fault injection, replay, and the command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from stockfish_zmq.schema import parse_iso_ns
from stockfish_zmq.testing.publisher import Faults, Publisher
from stockfish_zmq.testing.synthetic import SyntheticMarket

Factory = Callable[..., Publisher]


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.destroy(linger=0)


def subscriber(ctx: zmq.Context[Any], pub: Publisher, topic: bytes = b"") -> zmq.Socket[bytes]:
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    sock.connect(pub.endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, topic)
    pub.wait_subscribed(topic, 5)
    return sock


def receive(sock: zmq.Socket[bytes], n: int) -> list[list[bytes]]:
    """``n`` messages as ``[topic, json]``, whatever their framing (one frame ``TOPIC
    {json}`` is split at its first space)."""
    out = []
    for _ in range(n):
        assert sock.poll(5000), "nothing received within 5s"
        frames = sock.recv_multipart()
        if len(frames) == 1:
            topic, _, body = frames[0].partition(b" ")
            frames = [topic, body]
        out.append(frames)
    return out


def test_messages_follow_the_wire_format(publisher_factory: Factory,
                                         ctx: zmq.Context[Any]) -> None:
    pub = publisher_factory(session="s")
    sock = subscriber(ctx, pub, b"ETH")
    pub.publish("ticker", "ETH", {"bid": 1.0, "ask": 2.0})
    pub.publish("news", None, {"title": "not subscribed"})
    pub.publish("trade", "ETH", {"price": 1.5, "size": 1})
    frames = receive(sock, 2)
    assert [f[0] for f in frames] == [b"ETH", b"ETH"]
    first, second = (json.loads(f[1]) for f in frames)
    assert first["type"] == "ticker" and first["symbol"] == "ETH" and first["session"] == "s"
    assert (first["sequence"], second["sequence"]) == (1, 2)
    assert parse_iso_ns(first["timestamp"]) // 10**6 == first["ts_ns"] // 10**6


@pytest.mark.parametrize(("wire", "expected"), [
    ("prefix", [b'ETH {"type":"ticker"']),
    ("frames", [b"ETH", b'{"type":"ticker"']),
    ("json", [b'{"type":"ticker"']),
])
def test_each_wire_format_goes_out_as_documented(publisher_factory: Factory,
                                                 ctx: zmq.Context[Any], wire: str,
                                                 expected: list[bytes]) -> None:
    pub = publisher_factory(wire_format=wire)
    topic = b"{" if wire == "json" else b"ETH"
    sock = subscriber(ctx, pub, topic)
    pub.publish("ticker", "ETH", {"bid": 1.0})
    assert sock.poll(5000)
    frames = sock.recv_multipart()
    assert len(frames) == len(expected)
    assert [f[:len(e)] for f, e in zip(frames, expected, strict=True)] == expected
    assert json.loads(frames[-1][frames[-1].find(b"{"):])["symbol"] == "ETH"


def test_an_unknown_wire_format_is_refused() -> None:
    with pytest.raises(ValueError, match="wire_format must be one of prefix, frames, json"):
        Publisher(wire_format="xml")


@pytest.mark.parametrize("kind", [zmq.DEALER, zmq.REQ])
def test_snapshot_service_answers_with_the_book_and_its_sequence(
        publisher: Publisher, ctx: zmq.Context[Any], kind: int) -> None:
    publisher.publish("depth", "X", {"snapshot": True, "bids": [[9.0, 1.0]], "asks": [[11, 2]]})
    publisher.publish("ticker", "X", {"last": 10.0})
    publisher.publish("depth", "X", {"bids": [[9.5, 3.0]]}, drop=True)
    publisher.flush()
    client: zmq.Socket[bytes] = ctx.socket(kind)
    assert publisher.snapshot_endpoint is not None
    client.connect(publisher.snapshot_endpoint)
    client.send_multipart([b"SNAPSHOT", b"X"])
    assert client.poll(5000)
    reply = json.loads(client.recv_multipart()[-1])
    assert reply["type"] == "depth" and reply["sequence"] == 3 and reply["session"] == "s1"
    assert reply["data"] == {"snapshot": True, "bids": [[9.5, 3.0], [9.0, 1.0]],
                             "asks": [[11.0, 2.0]]}
    client.send_multipart([b"SNAPSHOT", b"NOPE"])
    assert client.poll(5000)
    assert json.loads(client.recv_multipart()[-1])["type"] == "error"


def test_faults_drop_duplicate_reorder_and_add_garbage(publisher_factory: Factory,
                                                       ctx: zmq.Context[Any]) -> None:
    pub = publisher_factory(faults=Faults(drop_every=5, duplicate_every=7, reorder_every=3,
                                          garbage_every=11))
    sock = subscriber(ctx, pub)
    pub.stream(SyntheticMarket(["A"], ("ticker",)), rate=0, count=40)
    pub.wait_stream_done(10)
    pub.set_faults(Faults())
    pub.publish("ticker", "A", {"last": 1.0})
    seqs, garbage = [], 0
    while True:
        _, body = receive(sock, 1)[0]
        try:
            seq = json.loads(body).get("sequence")
        except (ValueError, AttributeError):
            seq = None
        if seq is None:
            garbage += 1
            continue
        seqs.append(seq)
        if seq == 41:
            break
    assert garbage == 3
    assert 5 not in seqs and 10 not in seqs  # dropped
    assert len(seqs) != len(set(seqs))  # duplicated
    assert seqs != sorted(seqs)  # reordered


def test_replay_publishes_the_file_in_order(publisher_factory: Factory, ctx: zmq.Context[Any],
                                            tmp_path: Path) -> None:
    pub = publisher_factory()
    sock = subscriber(ctx, pub)
    lines = [{"type": "trade", "symbol": "Z", "data": {"price": float(i), "size": 1}}
             for i in range(5)]
    pub.stream(lines, rate=0)
    got = [json.loads(b) for _, b in receive(sock, 5)]
    assert [m["data"]["price"] for m in got] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [m["sequence"] for m in got] == [1, 2, 3, 4, 5]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockfish_zmq.testing", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_command_line_publishes_to_a_subscriber_and_reports(ctx: zmq.Context[Any],
                                                           tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stockfish_zmq.testing", "--endpoint", "tcp://127.0.0.1:*",
         "--snapshot-endpoint", "tcp://127.0.0.1:*", "--symbols", "2", "--types",
         "ticker,depth", "--count", "200", "--rate", "0", "--wait-subscribers", "1",
         "--wait-timeout", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "READY", ready
        fields = dict(part.split("=", 1) for part in ready[1:])
        assert fields["endpoint"].startswith("tcp://127.0.0.1:")
        assert fields["snapshot"].startswith("tcp://127.0.0.1:")
        sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
        sock.connect(fields["endpoint"])
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        kinds = {json.loads(body)["type"] for _, body in receive(sock, 200)}
        assert kinds == {"ticker", "depth"}
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "SUBSCRIBED 1" in out and "DONE sent=200" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_command_line_writes_curve_certificates(tmp_path: Path) -> None:
    result = run_cli("--gen-keys", str(tmp_path / "keys"))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "keys").iterdir())
    assert names == ["client.key", "client.key_secret", "server.key", "server.key_secret"]
    if os.name == "posix":  # the secret keys are readable by their owner alone
        assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
        for name in ("client.key_secret", "server.key_secret"):
            assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600


def test_command_line_help_names_the_options() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--replay", "--snapshot-endpoint", "--drop-every", "--curve-secret-key-file"):
        assert option in result.stdout


def test_the_earlier_module_path_still_works_and_warns() -> None:
    """``stockfish_zmq.publisher`` (documented before the simulator moved to testing/)."""
    sys.modules.pop("stockfish_zmq.publisher", None)
    with pytest.warns(DeprecationWarning, match="stockfish_zmq.testing.publisher"):
        import stockfish_zmq.publisher as earlier
    assert earlier.Publisher is Publisher and earlier.Faults is Faults
