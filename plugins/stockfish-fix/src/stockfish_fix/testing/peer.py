"""A scripted FIX counterparty for tests: what a well-behaved acceptor never does.

:class:`RawFixPeer` is a plain asyncio TCP server on 127.0.0.1 (port 0: a free one) that a
FIX initiator connects to. The test reads the initiator's messages and writes whatever it
wants back: a hand-built Logon reply, silence instead of heartbeats, garbage bytes, a
message with a wrong checksum. :func:`fix_message` builds a message with a correct
BodyLength (9) and CheckSum (10).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

__all__ = ["RawFixPeer", "fix_message"]

SOH = "\x01"


def fix_message(begin_string: str, msg_type: str, seq: int, body: list[tuple[int, str]],
                sender: str = "EXCH", target: str = "CLIENT") -> bytes:
    """A FIX message with correct BodyLength and CheckSum."""
    now = time.time()
    millis = int(now % 1 * 1000)
    sending_time = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(now)) + f".{millis:03d}"
    header = [(35, msg_type), (34, str(seq)), (49, sender), (52, sending_time), (56, target)]
    payload = "".join(f"{tag}={value}{SOH}" for tag, value in header + body)
    head = f"8={begin_string}{SOH}9={len(payload.encode())}{SOH}"
    checksum = sum((head + payload).encode()) % 256
    return f"{head}{payload}10={checksum:03d}{SOH}".encode()


class RawFixPeer:
    """A TCP server on 127.0.0.1 that one FIX initiator connects to, driven by the test."""

    def __init__(self, begin_string: str = "FIX.4.4", sender: str = "EXCH",
                 target: str = "CLIENT") -> None:
        self.begin_string = begin_string
        self.sender = sender
        self.target = target
        self.server: asyncio.Server | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self.port = 0
        self.seq = 0

    async def start(self) -> RawFixPeer:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.writer is not None:  # one client at a time: the newest
            self.writer.close()
        self.reader, self.writer = reader, writer
        self.connected.set()

    async def read_message(self, timeout: float = 5.0) -> dict[str, str]:
        """The next message from the initiator, as tag -> value."""
        if self.reader is None:
            await asyncio.wait_for(self.connected.wait(), timeout)
        assert self.reader is not None
        head = await asyncio.wait_for(self.reader.readuntil(f"{SOH}10=".encode()), timeout)
        tail = await asyncio.wait_for(self.reader.readuntil(SOH.encode()), timeout)
        text = (head + tail).decode()
        return dict(item.split("=", 1) for item in text.split(SOH) if item)

    async def read_until(self, msg_type: str, timeout: float = 5.0) -> dict[str, str]:
        """Read until a message of ``msg_type`` (others are dropped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.read_message(max(0.01, deadline - loop.time()))
            if message.get("35") == msg_type:
                return message

    def send(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        """Send a well-formed message with the next sequence number."""
        self.seq += 1
        self.send_raw(fix_message(self.begin_string, msg_type, self.seq, body, self.sender,
                                  self.target))

    def send_raw(self, data: bytes) -> None:
        assert self.writer is not None, "no initiator connected"
        self.writer.write(data)

    async def logon(self, timeout: float = 5.0) -> dict[str, str]:
        """Wait for the initiator's Logon and accept it; returns the Logon."""
        logon = await self.read_until("A", timeout)
        self.send("A", [(98, "0"), (108, logon.get("108", "30"))])
        return logon

    async def drop(self) -> None:
        """Close the connection (the server keeps listening)."""
        writer, self.writer, self.reader = self.writer, None, None
        self.connected.clear()
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def close(self) -> None:
        await self.drop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
