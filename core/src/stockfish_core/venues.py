"""One connector as the manager's parts see it: :class:`VenueHooks`, the typed caller of
the hooks of the plugin that serves it, and :class:`VenueState`, the manager's
bookkeeping for it.

Adding a hook a connector serves is two steps: its specification in hookspecs.py, then
one method here that names it, e.g.::

    async def positions(self) -> list[Position] | None:
        return await self._await("stockfish_positions")  # type: ignore[no-any-return]
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from .connector import Connector, Subscription
from .diagnostics import connect_hook_hung, connect_hook_silent
from .models import ConnectorStatus, MarketUpdate
from .stats import ConnectorStats

if TYPE_CHECKING:
    from .accounts import AccountValues, Instrument, VenuePosition
    from .data.settings import HistoryRequest
    from .orders import Fill, OrderRequest
    from .plugins import PluginHooks

#: The statuses of a connector that is down and waits for the manager to reconnect it.
DOWN = (ConnectorStatus.DISCONNECTED, ConnectorStatus.ERROR)


class VenueHooks:
    """The hooks of the plugin that serves one connector, as methods.

    Each method calls its hook on that plugin only, with the connector, and awaits the
    result when the implementation returned an awaitable (an ``async def`` hook); what
    the hook raises reaches the caller unchanged. :meth:`execute` alone does not await:
    order entry is the hot path, and a plain hook then costs no task, nor a pluggy call
    (the implementation is resolved once, see :meth:`PluginHooks.direct`).
    """

    __slots__ = ("_connector", "_execute", "_hooks")

    def __init__(self, connector: Connector) -> None:
        if connector.hooks is None:
            raise ValueError(f"connector {connector.name} has no plugin hooks")
        self._connector = connector
        self._hooks: PluginHooks = connector.hooks
        #: (registry generation, stockfish_execute resolved for it).
        self._execute: tuple[int, Callable[..., Any]] | None = None

    def _call(self, hook: str, **kwargs: Any) -> Any:
        return self._hooks.call(hook, connector=self._connector, **kwargs)

    async def _await(self, hook: str, **kwargs: Any) -> Any:
        result = self._call(hook, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result

    async def connect(self, timeout: float | None = None) -> None:
        """``stockfish_connect``, given up (TimeoutError) after ``timeout`` seconds."""
        await asyncio.wait_for(self._await("stockfish_connect"), timeout)

    async def disconnect(self) -> None:
        await self._await("stockfish_disconnect")

    async def subscribe(self, subscription: Subscription) -> None:
        await self._await("stockfish_subscribe", subscription=subscription)

    async def unsubscribe(self, subscription: Subscription) -> None:
        await self._await("stockfish_unsubscribe", subscription=subscription)

    def execute(self, request: OrderRequest) -> Awaitable[Any] | None:
        """``stockfish_execute``: None once a plain hook returned (the request left), or
        the awaitable of an async one."""
        resolved = self._execute
        generation = self._hooks.generation
        if resolved is None or resolved[0] != generation:
            fn = self._hooks.direct("stockfish_execute", ("connector", "request"))
            if fn is None:
                caller = self._hooks.caller("stockfish_execute")
                fn = lambda connector, request: caller(  # noqa: E731
                    connector=connector, request=request)
            resolved = self._execute = (generation, fn)
        result = resolved[1](self._connector, request)
        return result if inspect.isawaitable(result) else None

    def normalize(self, messages: list[Any]) -> list[MarketUpdate]:
        """``stockfish_normalize`` over one batch (the implementation resolved once)."""
        normalize = self._connector.normalizer
        if normalize is None:
            raise RuntimeError(
                f"plugin {self._connector.plugin!r} implements no stockfish_normalize")
        return normalize(self._connector, messages)

    async def history(self, request: HistoryRequest) -> list[Any] | None:
        return await self._await("stockfish_history", request=request)  # type: ignore[no-any-return]

    async def account(self) -> AccountValues | None:
        return await self._await("stockfish_account")  # type: ignore[no-any-return]

    async def positions(self) -> list[VenuePosition] | None:
        return await self._await("stockfish_positions")  # type: ignore[no-any-return]

    async def executions(self, since_ns: int) -> list[Fill] | None:
        return await self._await("stockfish_executions", since_ns=since_ns)  # type: ignore[no-any-return]

    async def instrument(self, symbol: str) -> Instrument | None:
        return await self._await("stockfish_instrument", symbol=symbol)  # type: ignore[no-any-return]


@attrs.define(eq=False)
class VenueState:
    """The manager's bookkeeping for one connector."""

    connector: Connector
    index: int
    subscriptions: dict[Subscription, None] = attrs.Factory(dict)
    task: asyncio.Task[None] | None = None
    busy: bool = False
    needs_restore: bool = False
    last_error_log: float = 0.0
    status_changed: asyncio.Event | None = None
    hooks: VenueHooks = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.hooks = VenueHooks(self.connector)

    async def wait_status(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until a status change makes ``predicate()`` true."""
        if self.status_changed is None:
            self.status_changed = asyncio.Event()
        event = self.status_changed
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            event.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s")
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                continue

    @property
    def name(self) -> str:
        return self.connector.name

    @property
    def stats(self) -> ConnectorStats:
        return self.connector.stats

    async def open(self, timeout: float) -> None:
        """The connect hook, then CONNECTED within ``timeout``; raises otherwise."""
        connector = self.connector
        try:
            await self.hooks.connect(timeout)
        except asyncio.TimeoutError:
            raise ConnectionError(connect_hook_hung(connector, timeout)) from None
        if not connector.is_connected:
            try:
                await self.wait_status(
                    lambda: connector.is_connected or connector.status in DOWN, timeout)
            except TimeoutError:
                raise ConnectionError(connect_hook_silent(connector, timeout)) from None
        if not connector.is_connected:
            raise ConnectionError(connector.status_reason or connector.status.value)


@attrs.define
class RunState:
    """Whether the manager runs, shared by its parts."""

    running: bool = False
    stopping: bool = False


def find_venue(venues: dict[str, VenueState], name: str) -> VenueState:
    """The venue named ``name``; KeyError naming the connectors there are."""
    try:
        return venues[name]
    except KeyError:
        known = ", ".join(venues) or "none"
        raise KeyError(f"no connector named {name!r} (connectors: {known})") from None
