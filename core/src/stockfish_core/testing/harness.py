"""Drive one connector through its hooks, with no manager, and await what it reports.

For plugin authors' tests::

    async with ConnectorHarness(my_plugin_module, "myvenue", settings={...}) as h:
        await h.connect()
        await h.subscribe(Subscription("SPY"))
        update = await h.next_update(timeout=5)

Everything is awaited with a timeout; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs

from ..config import structure_plugin_config
from ..connector import Connector, Subscription
from ..diagnostics import connect_hook_hung, connect_hook_silent
from ..models import ConnectorStatus, MarketUpdate
from ..orders import OrderRequest, OrderUpdate
from ..plugins import PluginRegistry

__all__ = ["ConnectorHarness", "RecordingListener", "ReportedError"]


@attrs.frozen
class ReportedError:
    message: str
    symbol: str | None
    code: str | None
    data: bool


class RecordingListener:
    """A ConnectorListener that keeps everything and wakes waiters."""

    def __init__(self) -> None:
        self.statuses: list[tuple[ConnectorStatus, str]] = []
        self.updates: list[MarketUpdate] = []
        self.order_updates: list[OrderUpdate] = []
        self.errors: list[ReportedError] = []
        self._changed = asyncio.Event()

    def _poke(self) -> None:
        self._changed.set()

    def on_status(self, connector: Connector, status: ConnectorStatus, reason: str) -> None:
        self.statuses.append((status, reason))
        self._poke()

    def on_updates(self, connector: Connector, updates: Sequence[MarketUpdate]) -> None:
        self.updates.extend(updates)
        self._poke()

    def on_order_update(self, connector: Connector, update: OrderUpdate) -> None:
        self.order_updates.append(update)
        self._poke()

    def on_error(self, connector: Connector, message: str, *, symbol: str | None,
                 code: str | None, data: bool) -> None:
        self.errors.append(ReportedError(message, symbol, code, data))
        self._poke()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Wait until ``predicate()`` is truthy and return its value."""
        return await wait_until(predicate, self._changed, timeout, what)


async def wait_until(predicate: Callable[[], Any],
                     changed: asyncio.Event | Callable[[], Awaitable[Any]], timeout: float,
                     what: str, *, recheck: float | None = None) -> Any:
    """Wait until ``predicate()`` is truthy and return its value; TimeoutError naming
    ``what`` after ``timeout`` seconds.

    The predicate is checked again whenever something may have changed: when the event
    ``changed`` is set (it is cleared before each wait), or when the awaitable that
    ``changed()`` returns completes. With ``recheck``, also every ``recheck`` seconds,
    for conditions that time alone can make true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        if isinstance(changed, asyncio.Event):
            changed.clear()
            wake: Awaitable[Any] = changed.wait()
        else:
            wake = changed()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake, remaining if recheck is None else min(remaining, recheck))


class ConnectorHarness:
    """One connector of one plugin, on the running loop, with a recording listener."""

    def __init__(
        self,
        plugin: object,
        name: str,
        settings: Mapping[str, Any] | None = None,
        *,
        registry: PluginRegistry | None = None,
        connector_name: str | None = None,
    ) -> None:
        self.registry = registry or PluginRegistry(entry_points=())
        if name not in self.registry.loaded:
            self.registry.register(plugin, name)
        loaded = self.registry.get(name)
        spec = loaded.spec
        config = None
        if spec is not None and spec.config_class is not None:
            path = f"connectors.{connector_name or name}"
            config = structure_plugin_config(spec.config_class, settings or {}, path)
        self.listener = RecordingListener()
        self.connector = Connector(
            connector_name or name, name, config, listener=self.listener,
            capabilities=spec.capabilities if spec else None, hooks=loaded.hooks,
        )
        self.hooks = loaded.hooks
        self._read = 0
        self._read_orders = 0

    async def __aenter__(self) -> ConnectorHarness:
        self.connector.loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.disconnect()

    async def call(self, hook: str, **kwargs: Any) -> Any:
        return await self.hooks.acall(hook, connector=self.connector, **kwargs)

    async def connect(self, timeout: float = 10.0) -> None:
        """Call the connect hook and wait for CONNECTED."""
        self.connector.loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self.call("stockfish_connect"), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(connect_hook_hung(self.connector, timeout)) from None
        try:
            await self.wait_status(ConnectorStatus.CONNECTED, timeout)
        except TimeoutError:
            raise TimeoutError(connect_hook_silent(self.connector, timeout)) from None

    async def disconnect(self) -> None:
        await self.call("stockfish_disconnect")

    async def subscribe(self, subscription: Subscription) -> None:
        await self.call("stockfish_subscribe", subscription=subscription)

    async def unsubscribe(self, subscription: Subscription) -> None:
        await self.call("stockfish_unsubscribe", subscription=subscription)

    async def execute(self, request: OrderRequest) -> None:
        await self.call("stockfish_execute", request=request)

    async def wait_status(self, status: ConnectorStatus, timeout: float = 10.0) -> None:
        await self.listener.wait_for(lambda: self.connector.status is status, timeout,
                                     f"status {status.value} (now {self.connector.status.value})")

    async def next_update(self, timeout: float = 5.0,
                          where: Callable[[MarketUpdate], bool] | None = None) -> MarketUpdate:
        """The next update not yet returned (optionally the next one matching ``where``)."""
        def find() -> MarketUpdate | None:
            updates = self.listener.updates
            while self._read < len(updates):
                update = updates[self._read]
                self._read += 1
                if where is None or where(update):
                    return update
            return None

        result: MarketUpdate = await self.listener.wait_for(find, timeout, "a market update")
        return result

    async def next_order_update(
        self, timeout: float = 5.0, where: Callable[[OrderUpdate], bool] | None = None
    ) -> OrderUpdate:
        def find() -> OrderUpdate | None:
            items = self.listener.order_updates
            while self._read_orders < len(items):
                item = items[self._read_orders]
                self._read_orders += 1
                if where is None or where(item):
                    return item
            return None

        result: OrderUpdate = await self.listener.wait_for(find, timeout, "an order update")
        return result
