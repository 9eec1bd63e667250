"""Order state inside the manager: ids, the one state machine applied to venue reports,
fill de-duplication, positions and the journal.

Runs on the manager's loop. Venue reports are applied with :meth:`OrderStore.apply`,
which never raises for a venue's mistake: an illegal transition or an overfill is
refused, logged and counted, and the order keeps its last good state.

Memory is bounded: an order that reached its final status stays in memory for
``keep_final_seconds`` and among the latest ``keep_final`` final orders, then leaves it
(with its execution ids) and is answered from the journal. A report about such an order
reads it back from the journal first, so a late or duplicate fill is handled as if it had
never left.

A fill on a final order (a *late fill*) is applied to the order and the position only
when it is genuine: the order was CANCELLED (venues report fills that raced a cancel), the
execution id is new, symbol and side are the order's, and it does not overfill. The order
stays CANCELLED. Every late fill, applied or refused, is counted (``late_fills``,
``refused_fills`` in the manager's stats) and logged at ERROR, one line per fill
(at most one a second per kind, with the number left out).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from .errors import IllegalTransition
from .journal import Journal
from .models import now_ns
from .orders import Fill, Order, OrderStatus, OrderUpdate, Position

#: Defaults of ManagerConfig.keep_final_orders / keep_final_seconds.
KEEP_FINAL_ORDERS = 1_000
KEEP_FINAL_SECONDS = 60.0

__all__ = ["OrderIdGenerator", "OrderStore", "Outcome"]

log = logging.getLogger("stockfish.orders")

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _ALPHABET[r] + out
        if n == 0:
            return out


class OrderIdGenerator:
    """Client order ids unique across restarts: ``<prefix><session>-<n>``.

    The session part comes from the start time in milliseconds and the process id, so two
    runs (or two processes) never share it; ids stay short enough for FIX ClOrdID and
    IB orderRef.
    """

    def __init__(self, prefix: str = "SF") -> None:
        session = _base36(time.time_ns() // 1_000_000) + _base36(os.getpid() % 1296).rjust(2, "0")
        self.session = session
        self._prefix = f"{prefix}{session}-"
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter)}"


class _KeyFilter:
    """A Bloom filter of (connector, execution id) keys: ``key in f`` is False for a key
    never added, and True for one added (or, rarely, for one not added: the caller then
    asks the journal). Fixed size (2 MiB); with a million keys about 0.2% of new ids are
    looked up in the journal, with five million about a quarter."""

    __slots__ = ("_bits", "count")

    _MASK = (1 << 24) - 1

    def __init__(self) -> None:
        self._bits = bytearray(1 << 21)
        self.count = 0

    def add(self, key: tuple[str, str]) -> None:
        bits, mask = self._bits, self._MASK
        h = hash(key)
        for position in (h & mask, (h >> 24) & mask, (h * 0x9E3779B1 >> 20) & mask):
            bits[position >> 3] |= 1 << (position & 7)
        self.count += 1

    def __contains__(self, key: object) -> bool:
        if not self.count:
            return False
        bits, mask = self._bits, self._MASK
        h = hash(key)
        for position in (h & mask, (h >> 24) & mask, (h * 0x9E3779B1 >> 20) & mask):
            if not bits[position >> 3] & (1 << (position & 7)):
                return False
        return True


class Outcome:
    """What applying one report changed (for stats and subscriber notification)."""

    __slots__ = ("order", "fill", "status_changed", "duplicate_fill", "refused", "first_ack",
                 "late_fill", "disagreement", "reconciled")

    def __init__(self, order: Order) -> None:
        self.order = order
        self.fill: Fill | None = None
        self.status_changed = False
        self.duplicate_fill = False
        self.refused: str | None = None
        self.first_ack = False
        #: The fill came after the order's final status (and was applied).
        self.late_fill = False
        #: How the venue's CumQty and this manager's count of the order's fills differ
        #: after the report (None: they agree, or the venue does not say).
        self.disagreement: str | None = None
        #: ``fill`` was made here from the venue's CumQty and AvgPx (fills not heard of).
        self.reconciled = False


class _Alerts:
    """One log line per event, at most one a second per kind; the lines left out are
    counted and named in the next one."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self._log = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def error(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -self._interval) < self._interval:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        if skipped:
            message += " (%d more %s alert(s) not logged in the last second)"
            args = (*args, skipped, kind)
        self._log.error(message, *args)


class OrderStore:
    """Every order this manager knows, by client order id (the order store; an
    order *book* in this project is market depth: OrderBookSnapshot, the L2 book)."""

    def __init__(self, journal: Journal | None, id_prefix: str = "SF", *,
                 keep_final: int = KEEP_FINAL_ORDERS,
                 keep_final_seconds: float = KEEP_FINAL_SECONDS) -> None:
        self.journal = journal
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.next_id: Callable[[], str] = OrderIdGenerator(id_prefix)
        #: (connector, execution id) of the fills of the orders in memory -> their order.
        self._executions: dict[tuple[str, str], str] = {}
        self._fill_keys: dict[str, list[tuple[str, str]]] = {}
        #: Final orders still in memory, oldest first, with when they became final.
        self._final: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.keep_final = keep_final
        self.keep_final_ns = int(keep_final_seconds * 1e9)
        #: Final orders that left memory, by status (they still count in status totals).
        self._retired_by_status: collections.Counter[str] = collections.Counter()
        self.orders_retired = 0
        self.orders_reloaded = 0
        self.late_fills = 0
        self.refused_fills = 0
        self._alerts = _Alerts(log)
        #: Orders sent to a venue and not yet acknowledged, with the send time.
        self.unacked: dict[str, int] = {}
        self.sent_at: dict[str, int] = {}
        self.illegal_transitions = 0
        self.unknown_reports = 0
        #: Orders asked about (STATUS) because the venue's CumQty and our count of their
        #: fills disagreed, with the monotonic time asked (one question at a time).
        self.reconciling: dict[str, float] = {}
        #: Changes waiting for the next journal flush (see :meth:`defer_writes`).
        self._dirty: dict[str, Order] = {}
        self._dirty_fills: list[Fill] = []
        #: New orders not yet committed, with what to do once they are (send, then any
        #: cancel or replace asked for meanwhile), in order.
        self._new: dict[str, tuple[Order, list[Callable[[], None]]]] = {}
        self._schedule: Callable[[Callable[[], None]], Any] | None = None
        self._threadsafe: Callable[[Callable[[], None]], Any] | None = None
        #: Tells subscribers and waiters of a change made here (an order put in ERROR
        #: because its journal write failed); the manager's order part sets it.
        self.notify: Callable[[Order], None] | None = None
        self._flush_pending = False
        #: With the journal's writer thread: new orders handed to it and not yet
        #: committed, with their actions; how many uncommitted batches hold each order's
        #: row; and the batches committed (or failed), to be run on the loop.
        self._awaiting: dict[str, list[Callable[[], None]]] = {}
        self._in_flight: dict[str, int] = {}
        self._committed: collections.deque[
            tuple[tuple[list[tuple[Order, list[Callable[[], None]]]], list[str]],
                  BaseException | None]] = collections.deque()
        #: The execution ids the journal holds and memory does not (a restart, or a final
        #: order with fills that left memory), as a filter: a new execution id that may be
        #: among them is looked up in the journal before it is applied (an id reused by
        #: the venue is a duplicate); one that is not, the common case, is not.
        self._on_disk = _KeyFilter()
        if journal is not None and journal.has_fills():
            for key in journal.execution_keys():
                self._on_disk.add(key)

    def defer_writes(self, schedule: Callable[[Callable[[], None]], Any] | None,
                     threadsafe: Callable[[Callable[[], None]], Any] | None = None) -> None:
        """Group commit: ``schedule(fn)`` runs ``fn`` soon (the manager passes its loop's
        ``call_soon``), so everything one loop iteration adds or changes is handed to the
        journal at once. With ``threadsafe`` (the loop's ``call_soon_threadsafe``), the
        journal's writer thread commits it (:meth:`Journal.write_later`, which carries
        every batch queued while it commits) and ``threadsafe`` brings the news back to
        the loop; without, the flush commits it there and then. Either way a new order is
        sent only after the transaction that holds it has committed (see :meth:`add`). A
        change lost in a crash is recovered by reconciliation with the venue; fills are
        de-duplicated by execution id. With ``None``, pending work is flushed and waited
        for, and every write is immediate from then on."""
        if schedule is None:
            self.flush(wait=True)
            if self.journal is not None:
                self.journal.stop_writer()  # no thread left behind a stopped manager
        self._schedule = schedule
        self._threadsafe = threadsafe if schedule is not None else None

    def flush(self, *, wait: bool = False) -> None:
        """Hand pending writes to the journal; the actions waiting for them (the sends)
        run once they are committed: at once without the writer thread, else when it
        reports the commit, or before this returns with ``wait``."""
        self._flush_pending = False
        if self._committed:  # committed batches nothing waited for (see _write_later)
            self._run_committed()
        new, self._new = list(self._new.values()), {}
        if self.journal is not None and (new or self._dirty or self._dirty_fills):
            orders = [o for o, _ in new]
            fresh = {o.client_order_id for o in orders}
            orders.extend(o for cid, o in self._dirty.items() if cid not in fresh)
            fills = self._dirty_fills
            self._dirty, self._dirty_fills = {}, []
            if self._threadsafe is not None:
                self._write_later(new, orders, fills)
                if wait:
                    self.journal.wait_written()
                    self._run_committed()
                return
            try:
                self.journal.record_batch(orders, fills)
            except Exception as exc:  # noqa: BLE001 - refuse to send what is not on disk
                self._write_failed(new, exc)
                return
        elif wait and self._threadsafe is not None and self._in_flight:
            assert self.journal is not None
            self.journal.wait_written()
            self._run_committed()
        for _order, actions in new:
            for action in actions:
                action()
        self._retire_old()

    def _write_later(self, new: list[tuple[Order, list[Callable[[], None]]]],
                     orders: list[Order], fills: list[Fill]) -> None:
        """Hand a batch to the journal's writer thread (see :meth:`flush`)."""
        assert self.journal is not None and self._threadsafe is not None
        cids = [o.client_order_id or "" for o in orders]
        in_flight = self._in_flight
        for cid in cids:
            in_flight[cid] = in_flight.get(cid, 0) + 1
        for order, actions in new:
            self._awaiting[order.client_order_id or ""] = actions
        batch = (new, cids)
        threadsafe = self._threadsafe
        committed = self._committed

        wake = bool(new)

        def done(error: BaseException | None) -> None:  # on the writer thread
            committed.append((batch, error))
            if not wake and error is None:
                return  # nothing waits for it: the next flush (or a later wake) runs it
            try:
                threadsafe(self._run_committed)
            except RuntimeError:  # the loop is closed: flush(wait=True) runs it
                pass

        try:
            self.journal.write_later(orders, fills, done)
        except Exception as exc:  # noqa: BLE001 - the journal is closed or broken
            done(exc)

    def _run_committed(self) -> None:
        """On the loop: the batches the writer thread committed (or failed), in order;
        their new orders are sent (or, if the commit failed, put in ERROR)."""
        committed = self._committed
        while committed:
            (new, cids), error = committed.popleft()
            in_flight = self._in_flight
            for cid in cids:
                left = in_flight.get(cid, 1) - 1
                if left:
                    in_flight[cid] = left
                else:
                    in_flight.pop(cid, None)
            awaiting = self._awaiting
            for order, _ in new:
                awaiting.pop(order.client_order_id or "", None)
            if error is not None:
                self._write_failed(new, error)
                continue
            for _order, actions in new:
                for action in actions:
                    action()
        self._retire_old()

    def _write_failed(self, new: list[tuple[Order, list[Callable[[], None]]]],
                      exc: BaseException) -> None:
        log.critical("journal write failed (%s: %s); %d new order(s) not sent",
                     type(exc).__name__, exc, len(new))
        for order, _ in new:
            self.finish(order, OrderStatus.ERROR, f"journal write failed: {exc}")
            if self.notify is not None:
                self.notify(order)

    def _write(self, order: Order, fill: Fill | None = None, *, row: bool = True) -> None:
        """Journal a fill and/or the order's row (``row=False``: the fill only)."""
        if self.journal is None:
            return
        if self._schedule is None:
            if fill is not None:
                self.journal.record_fill(fill, order if row else None)
            else:
                self.journal.record_order(order)
            self._retire_old()
            return
        if row:
            self._dirty[order.client_order_id or ""] = order
        if fill is not None:
            self._dirty_fills.append(fill)
        self._request_flush()

    # -- lifecycle -----------------------------------------------------------------
    def restore(self) -> list[Order]:
        """Reload the journal's open orders (after a restart); returns them."""
        if self.journal is None:
            return []
        restored = [o for o in self.journal.open_orders() if o.client_order_id not in self.orders]
        for order in restored:
            assert order.client_order_id is not None
            self.orders[order.client_order_id] = order
            for fill in self._load_fills(order):
                self._position(fill.symbol).apply(fill)
        return restored

    def _load_fills(self, order: Order) -> list[Fill]:
        """The order's fills from the journal, applied again (the fills table is the
        record; the order's row may predate some of them), their ids remembered."""
        assert self.journal is not None and order.client_order_id is not None
        fills = self.journal.fills(order.client_order_id)
        if fills:
            order.filled_quantity, order.avg_fill_price = Decimal(0), None
        for fill in fills:
            order.apply_fill(fill)
            self._remember(order.client_order_id, (fill.connector or "", fill.execution_id))
        return fills

    def _remember(self, client_order_id: str, key: tuple[str, str]) -> None:
        self._executions[key] = client_order_id
        keys = self._fill_keys.get(client_order_id)
        if keys is None:
            self._fill_keys[client_order_id] = [key]
        else:
            keys.append(key)

    def has_fill(self, connector: str, execution_id: str) -> bool:
        """Whether the fill ``execution_id`` of ``connector`` was applied already (in
        memory, or in the journal for an order that left memory)."""
        return self._known(connector, execution_id)

    def _known(self, connector: str, execution_id: str) -> bool:
        key = (connector, execution_id)
        return key in self._executions or (
            key in self._on_disk and self.journal is not None
            and self.journal.has_fill(connector, execution_id))

    def lookup(self, client_order_id: str) -> Order | None:
        """The order from memory, else the journal's copy of it (a final order that left
        memory); None if neither knows it. Safe from any thread."""
        order = self.orders.get(client_order_id)
        if order is None and self.journal is not None:
            order = self.journal.order(client_order_id)
        return order

    def _reload(self, client_order_id: str) -> Order | None:
        """Bring a retired order back into memory (a report about it arrived)."""
        if self.journal is None:
            return None
        order = self.journal.order(client_order_id)
        if order is None:
            return None
        self.orders[client_order_id] = order
        self._load_fills(order)
        self.orders_reloaded += 1
        if order.is_final:
            count = self._retired_by_status[order.status.value]
            if count:
                self._retired_by_status[order.status.value] = count - 1
            self._retire(order)
        return order

    # -- retention -------------------------------------------------------------------
    def _retire(self, order: Order) -> None:
        """``order`` is final: forget what only open orders need, and queue it to leave
        memory (see :meth:`_retire_old`)."""
        cid = order.client_order_id or ""
        self.unacked.pop(cid, None)
        if cid not in self._final and cid in self.orders:
            self._final[cid] = time.monotonic_ns()

    def _retire_old(self) -> None:
        """Final orders beyond ``keep_final`` or older than ``keep_final_seconds`` leave
        memory, once what they changed is committed to the journal."""
        final = self._final
        if not final or self.journal is None:
            return
        cutoff = time.monotonic_ns() - self.keep_final_ns
        while final:
            cid, at = next(iter(final.items()))
            if len(final) <= self.keep_final and at > cutoff:
                return
            if cid in self._dirty or cid in self._new or cid in self._in_flight:
                return  # not on disk yet: after the next flush
            del final[cid]
            order = self.orders.get(cid)
            if order is None or not order.is_final:
                continue
            del self.orders[cid]
            self.sent_at.pop(cid, None)
            self.reconciling.pop(cid, None)  # an order retired while its status was asked
            on_disk = self._on_disk
            for key in self._fill_keys.pop(cid, ()):
                self._executions.pop(key, None)
                on_disk.add(key)
            self._retired_by_status[order.status.value] += 1
            self.orders_retired += 1

    def status_counts(self) -> dict[str, int]:
        """Orders of this run by status, those that left memory included."""
        counts = collections.Counter(self._retired_by_status)
        for order in self.orders.values():
            counts[order.status.value] += 1
        return {status: n for status, n in counts.items() if n}

    def stats(self) -> dict[str, int]:
        """Counters for the manager's stats."""
        return {
            "late_fills": self.late_fills,
            "refused_fills": self.refused_fills,
            "orders_in_memory": len(self.orders),
            "orders_retired": self.orders_retired,
            "orders_reloaded": self.orders_reloaded,
            "execution_ids_in_memory": len(self._executions),
        }

    def add(self, order: Order, then: Callable[[], None] | None = None) -> None:
        """A new order; ``then`` (its send) runs once the order is committed to the
        journal: at once without group commit, else after this loop iteration's flush."""
        assert order.client_order_id is not None
        self.orders[order.client_order_id] = order
        if order.is_final:  # refused before it left
            self._retire(order)
        if self.journal is None or self._schedule is None:
            if self.journal is not None:
                self.journal.record_order(order)
            if then is not None:
                then()
            self._retire_old()
            return
        self._new[order.client_order_id] = (order, [then] if then is not None else [])
        self._request_flush()

    def after_commit(self, order: Order, action: Callable[[], None]) -> None:
        """Run ``action`` once ``order`` is committed (and sent): now if it is, else
        after its send, so a cancel never overtakes the order it cancels."""
        cid = order.client_order_id or ""
        pending = self._new.get(cid)
        if pending is not None:
            pending[1].append(action)
            return
        awaiting = self._awaiting.get(cid)
        if awaiting is not None:  # with the writer thread: committed soon
            awaiting.append(action)
        else:
            action()

    def unsent(self, order: Order) -> bool:
        """Whether ``order`` is new and waits for its commit (it has not left yet)."""
        cid = order.client_order_id or ""
        return cid in self._new or cid in self._awaiting

    def _request_flush(self) -> None:
        if not self._flush_pending and self._schedule is not None:
            self._flush_pending = True
            self._schedule(self.flush)

    def save(self, order: Order) -> None:
        self._write(order)

    def get(self, client_order_id: str) -> Order | None:
        """The order if it is in memory (see :meth:`lookup` for retired ones)."""
        return self.orders.get(client_order_id)

    def open_orders(self, connector: str | None = None) -> list[Order]:
        return [o for o in self.orders.values()
                if o.is_open and (connector is None or o.connector == connector)]

    def mark_sent(self, order: Order) -> None:
        assert order.client_order_id is not None
        now = now_ns()
        self.unacked[order.client_order_id] = now
        self.sent_at[order.client_order_id] = now

    def finish(self, order: Order, status: OrderStatus, reason: str) -> None:
        """Move an order to a final status decided in this process (not by a venue)."""
        order.reason = reason
        try:
            order.transition(status)
        except IllegalTransition as exc:
            log.error("%s", exc)
            self.illegal_transitions += 1
        self.unacked.pop(order.client_order_id or "", None)
        if order.is_final:
            self._retire(order)
        self.save(order)

    def _position(self, symbol: str) -> Position:
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = Position(symbol)
        return position

    # -- venue reports ---------------------------------------------------------------
    def apply(self, update: OrderUpdate, connector: str) -> Outcome | None:
        """Apply one venue report. Returns None for an order this manager does not know."""
        order = self.orders.get(update.client_order_id)
        if order is None:
            order = self._reload(update.client_order_id)
        if order is None:
            self.unknown_reports += 1
            log.warning("%s reported order %s, which this manager does not know (status %s)",
                        connector, update.client_order_id, update.status.value)
            return None
        outcome = Outcome(order)
        if order.connector not in (None, connector):
            log.warning("order %s belongs to %s but %s reported it; ignored",
                        order.client_order_id, order.connector, connector)
            outcome.refused = "report from another connector"
            return outcome
        if update.fill is None and update.execution is not None:
            update.fill = update.execution.fill_for(order, connector)
        if update.client_order_id in self.unacked and update.rejected_request is None:
            self.unacked.pop(update.client_order_id)
            outcome.first_ack = True
        # The order's journal row is rewritten when it matters after a restart: a final
        # status, a replace, an outcome that became known. Acknowledgements and partial
        # fills are not (fills have their own rows): reconciliation covers them.
        row = update.replaced
        if order.outcome_unknown:
            log.info("order %s: %s reported it again (%s); outcome known", order.client_order_id,
                     connector, update.status.value)
            order.outcome_unknown = False
            row = True
        if update.venue_order_id and update.venue_order_id != "NONE":
            order.venue_order_id = update.venue_order_id
        if update.rejected_request is not None:
            log.warning("order %s: %s of the order refused by %s: %s", order.client_order_id,
                        update.rejected_request.value, connector, update.reason)
            order.reason = update.reason
            self.save(order)
            return outcome
        if update.replaced:
            why = _bad_terms(order, update)
            if why is not None:
                self.illegal_transitions += 1
                outcome.refused = f"replace refused: {why}"
                self._alerts.error("refused replace", "order %s: replace acknowledged by %s "
                                   "refused: %s; kept %s", order.client_order_id, connector,
                                   why, order.status.value)
                return outcome
            if update.quantity is not None:
                order.quantity = update.quantity
            # Only the terms the order has: a trailing stop's venue states the stop it
            # moves, which is not a term of the order.
            if update.price is not None and order.price is not None:
                order.price = update.price
            if update.stop_price is not None and order.stop_price is not None:
                order.stop_price = update.stop_price
        target = update.status
        fill = update.fill
        cum = update.cum_qty
        if fill is not None and cum is not None and cum <= order.filled_quantity \
                and (connector, fill.execution_id) not in self._executions:
            # The venue's total was reached already (a reconciliation counted it).
            outcome.duplicate_fill = True
            fill = None
        elif fill is None and cum is not None and cum > order.filled_quantity:
            fill = self._reconciliation_fill(order, update, cum, connector)
            outcome.reconciled = fill is not None
        if fill is not None:
            self._apply_fill(order, fill, connector, outcome)
            if outcome.refused is not None:
                outcome.disagreement = _disagreement(order, cum) or outcome.refused
                return outcome
            if outcome.late_fill:  # final stays final: the fill and the order's row
                self._write(order, outcome.fill, row=True)
                return outcome
            if outcome.duplicate_fill:  # the status alone, as if it came without a fill
                fill = None
        if fill is not None:
            if order.filled_quantity >= order.quantity:
                target = OrderStatus.FILLED
            elif target in (OrderStatus.SUBMITTED, OrderStatus.PENDING, OrderStatus.FILLED):
                target = OrderStatus.PARTIALLY_FILLED  # FILLED: the rest has not reached us
        elif target is OrderStatus.FILLED and order.filled_quantity < order.quantity:
            # Status before its executions (IB sends orderStatus first): the fills follow.
            target = OrderStatus.PARTIALLY_FILLED if order.filled_quantity else order.status
        elif target is OrderStatus.PARTIALLY_FILLED and not order.filled_quantity:
            target = order.status if order.status is not OrderStatus.PENDING \
                else OrderStatus.SUBMITTED
        elif target is OrderStatus.SUBMITTED and order.filled_quantity:
            target = OrderStatus.PARTIALLY_FILLED  # live, and some of it filled
        if update.reason and target in (OrderStatus.REJECTED, OrderStatus.CANCELLED,
                                        OrderStatus.ERROR):
            order.reason = update.reason
        try:
            outcome.status_changed = order.transition(target, at_ns=update.timestamp_ns)
        except IllegalTransition as exc:
            outcome.refused = str(exc)
            # A resent report, older than what followed it: marked so, or carrying a
            # fill already counted (a venue without a PossDup flag resending it).
            if update.possible_duplicate or outcome.duplicate_fill:
                log.info("order %s: resent report from %s (%s) is older than the order's "
                         "state %s; ignored", order.client_order_id, connector,
                         update.status.value, order.status.value)
            else:
                self.illegal_transitions += 1
                log.error("%s (reported by %s; kept %s)", exc, connector, order.status.value)
        row = row or order.is_final
        if order.is_final:
            self._retire(order)
        if outcome.fill is not None:
            self._write(order, outcome.fill, row=row)  # fill and order, one transaction
        elif row and (outcome.status_changed or update.replaced):
            self.save(order)
        outcome.disagreement = _disagreement(
            order, cum, stale=update.possible_duplicate or outcome.duplicate_fill)
        return outcome

    @staticmethod
    def _reconciliation_fill(order: Order, update: OrderUpdate, cum: Decimal,
                             connector: str) -> Fill | None:
        """One fill for what the venue says filled beyond this manager's count, at the
        price that brings the average to the venue's AvgPx (None without a usable one)."""
        avg = update.avg_price
        missing = cum - order.filled_quantity
        if avg is None or avg <= 0 or cum > order.quantity:
            return None
        known = (order.avg_fill_price or Decimal(0)) * order.filled_quantity
        price = (avg * cum - known) / missing
        if price <= 0:
            return None
        venue_id = update.venue_order_id or order.venue_order_id or order.client_order_id
        log.warning("order %s: %s reports %s filled, %s counted here; the %s not heard of "
                    "are reconciled at %s", order.client_order_id, connector, cum,
                    order.filled_quantity, missing, price)
        return Fill(order.client_order_id or "", f"reconciled:{venue_id}:{cum}", order.symbol,
                    order.side, missing, price, Decimal(0), connector, update.venue_order_id,
                    update.timestamp_ns)

    def _apply_fill(self, order: Order, fill: Fill, connector: str, outcome: Outcome) -> None:
        key = (connector, fill.execution_id)
        if self._known(connector, fill.execution_id):
            outcome.duplicate_fill = True
            return
        if fill.symbol != order.symbol or fill.side is not order.side:
            self.refused_fills += 1
            outcome.refused = (f"fill {fill.execution_id} is {fill.side.value} {fill.symbol}, "
                               f"the order {order.side.value} {order.symbol}")
            self._alerts.error("refused fill", "order %s: %s (reported by %s); fill refused",
                               order.client_order_id, outcome.refused, connector)
            return
        if order.is_final:
            self._late_fill(order, fill, connector, outcome, key)
            return
        try:
            order.apply_fill(fill)
        except IllegalTransition as exc:
            self.illegal_transitions += 1
            self.refused_fills += 1
            outcome.refused = str(exc)
            self._alerts.error("refused fill", "%s (reported by %s); fill refused", exc,
                               connector)
            return
        self._accept_fill(order, fill, connector, outcome, key)

    def _accept_fill(self, order: Order, fill: Fill, connector: str, outcome: Outcome,
                     key: tuple[str, str]) -> None:
        self._remember(order.client_order_id or "", key)
        if fill.connector is None:
            fill = _with_connector(fill, connector)
        outcome.fill = fill
        self._position(fill.symbol).apply(fill)

    def _late_fill(self, order: Order, fill: Fill, connector: str, outcome: Outcome,
                   key: tuple[str, str]) -> None:
        """A fill on a final order: applied if genuine, else refused; alerted either way."""
        why = None
        if order.status is not OrderStatus.CANCELLED:
            why = f"the order is {order.status.value}; no fill can follow"
        elif order.filled_quantity + fill.quantity > order.quantity:
            why = (f"it overfills ({order.filled_quantity} of {order.quantity} already "
                   "filled)")
        if why is not None:
            self.refused_fills += 1
            outcome.refused = f"late fill refused: {why}"
            self._alerts.error(
                "refused late fill", "late fill %s of %s %s @ %s on order %s (%s), reported "
                "by %s, refused: %s", fill.execution_id, fill.side.value, fill.quantity,
                fill.price, order.client_order_id, order.status.value, connector, why)
            return
        order.apply_fill(fill)
        self.late_fills += 1
        outcome.late_fill = True
        self._accept_fill(order, fill, connector, outcome, key)
        self._alerts.error(
            "late fill", "late fill %s of %s %s @ %s on order %s, already CANCELLED, reported "
            "by %s: applied to the order (still CANCELLED, %s of %s filled) and the position",
            fill.execution_id, fill.side.value, fill.quantity, fill.price,
            order.client_order_id, connector, order.filled_quantity, order.quantity)


def _bad_terms(order: Order, update: OrderUpdate) -> str | None:
    """Why the new terms of a replace acknowledgement cannot be the order's, or None."""
    for name, value in (("quantity", update.quantity), ("price", update.price),
                        ("stop_price", update.stop_price)):
        if value is not None and not (value.is_finite() and value > 0):
            return f"{name} {value} is not positive"
    if update.quantity is not None and update.quantity < order.filled_quantity:
        return f"quantity {update.quantity} is below the filled {order.filled_quantity}"
    return None


def _disagreement(order: Order, cum: Decimal | None, *, stale: bool = False) -> str | None:
    """How the venue's CumQty differs from the count of fills (None: it does not). A
    resent report (``stale``) may show less than was filled since: that is no news."""
    if cum is None or cum == order.filled_quantity or (stale and cum < order.filled_quantity):
        return None
    return f"the venue reports {cum} filled, {order.filled_quantity} counted here"


def _with_connector(fill: Fill, connector: str) -> Fill:
    return attrs.evolve(fill, connector=connector)


def __getattr__(name: str) -> Any:
    """``OrderBook``, this class's former name: deprecated, still importable."""
    if name == "OrderBook":
        warnings.warn("stockfish_core.oms.OrderBook is deprecated: it is OrderStore "
                      "(an order book is market depth)", DeprecationWarning, stacklevel=2)
        return OrderStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
