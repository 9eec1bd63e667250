"""Venue state over FIX (4.4 and 5.0, where the counterparty supports it, ``venue_state:
true``): RequestForPositions (AN) answered by a RequestForPositionsAck (AO) and one
PositionReport (AP) per position; OrderMassStatusRequest (AF) answered by a status
ExecutionReport of every order, which take the usual execution-report path (the core
reconciles each order's CumQty with its count of fills). With ``security_definitions:
true``, SecurityDefinitionRequest (c) answered by a SecurityDefinition (d): an instrument's
tick size, lot, multiplier, currency and exchange.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal
from typing import TYPE_CHECKING

from stockfish_core.plugin_api import Instrument, VenuePosition, VenueUnavailable, to_decimal

from .messages import flat, transact_time

if TYPE_CHECKING:
    from .session import FixSession

__all__ = ["VenueStateRequests"]


def _number(value: str | None) -> Decimal | None:
    return None if not value else to_decimal(value)


class _Pending:
    __slots__ = ("expected", "future", "rows")

    def __init__(self, future: asyncio.Future[list[VenuePosition]]) -> None:
        self.future = future
        self.expected: int | None = None
        self.rows: list[VenuePosition] = []

    def settle(self) -> None:
        if self.expected is not None and len(self.rows) >= self.expected \
                and not self.future.done():
            self.future.set_result(self.rows)


class VenueStateRequests:
    """The position and mass-status requests of one FIX session."""

    def __init__(self, session: FixSession) -> None:
        self.session = session
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._definitions: dict[str, asyncio.Future[Instrument]] = {}
        self._token = f"{time.time_ns() // 1_000_000:x}"

    def _account(self) -> str:
        config = self.session.config
        return config.account or config.sender_comp_id

    def _supported(self) -> bool:
        config = self.session.config
        return config.venue_state and config.begin_string != "FIX.4.2"

    async def positions(self, timeout: float) -> list[VenuePosition] | None:
        """Send a RequestForPositions and wait for its reports; None when not enabled."""
        if not self._supported():
            return None
        req_id = f"pos-{self._token}-{next(self._ids)}"
        future: asyncio.Future[list[VenuePosition]] = \
            asyncio.get_running_loop().create_future()
        self._pending[req_id] = _Pending(future)
        try:
            self.session.send("AN", [
                (710, req_id), (724, "0"), (1, self._account()), (581, "1"),
                (715, time.strftime("%Y%m%d", time.gmtime())), (60, transact_time())])
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise VenueUnavailable(
                f"{self.session.peer} did not answer RequestForPositions {req_id} within "
                f"{timeout:g}s (venue_state: true needs a counterparty that answers AN)"
            ) from None
        finally:
            self._pending.pop(req_id, None)

    async def instrument(self, symbol: str, timeout: float) -> Instrument | None:
        """Send a SecurityDefinitionRequest for ``symbol`` and wait for its
        SecurityDefinition; None when not enabled. ValueError for a symbol the
        counterparty does not know, VenueUnavailable when it refuses or does not answer."""
        config = self.session.config
        if not config.security_definitions or config.begin_string == "FIX.4.2":
            return None
        req_id = f"sec-{self._token}-{next(self._ids)}"
        future: asyncio.Future[Instrument] = asyncio.get_running_loop().create_future()
        self._definitions[req_id] = future
        try:
            self.session.send("c", [(320, req_id), (321, "0"), (55, symbol)])
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise VenueUnavailable(
                f"{self.session.peer} did not answer SecurityDefinitionRequest {req_id} "
                f"for {symbol!r} within {timeout:g}s (security_definitions: true needs a "
                "counterparty that answers c)") from None
        finally:
            self._definitions.pop(req_id, None)

    def on_definition(self, raw: str) -> None:
        """A SecurityDefinition (d): the answer to one of our requests."""
        f = flat(raw)
        future = self._definitions.get(f.get("320", ""))
        if future is None or future.done():
            return
        symbol = f.get("55", "")
        if f.get("323", "1") not in ("1", "2", "3"):  # 5 rejected, 6 cannot match
            future.set_exception(ValueError(
                f"{self.session.peer} does not know {symbol!r}: SecurityResponseType "
                f"{f.get('323')} {f.get('58', '')}".strip()))
            return
        try:
            future.set_result(Instrument(
                symbol, tick_size=_number(f.get("969")),
                lot_size=_number(f.get("561")) or _number(f.get("562")),
                multiplier=_number(f.get("231")) or Decimal(1), currency=f.get("15", ""),
                exchange=f.get("207", ""), venue_id=f.get("48", "")))
        except ValueError as exc:
            future.set_exception(VenueUnavailable(
                f"unreadable SecurityDefinition for {symbol!r} from {self.session.peer}: "
                f"{exc}"))

    def refused(self, req_id: str | None, reason: str) -> bool:
        """A BusinessMessageReject of a SecurityDefinitionRequest; False if not ours."""
        future = self._definitions.get(req_id or "")
        if future is None:
            return False
        if not future.done():
            future.set_exception(VenueUnavailable(
                f"{self.session.peer} refused SecurityDefinitionRequest {req_id}: {reason}"))
        return True

    def mass_status(self) -> bool:
        """Send an OrderMassStatusRequest for every order; False when not enabled."""
        if not self._supported():
            return False
        self.session.send("AF", [(584, f"mass-{self._token}-{next(self._ids)}"), (585, "7")])
        return True

    # -- answers ---------------------------------------------------------------------
    def on_ack(self, raw: str) -> None:
        f = flat(raw)
        pending = self._pending.get(f.get("710", ""))
        if pending is None:
            return
        if f.get("728") not in ("0", "2"):
            if not pending.future.done():
                pending.future.set_exception(VenueUnavailable(
                    f"{self.session.peer} refused RequestForPositions: PosReqResult "
                    f"{f.get('728')} {f.get('58', '')}".strip()))
            return
        pending.expected = int(f.get("727") or 0) if f.get("728") == "0" else 0
        pending.settle()

    def on_report(self, raw: str) -> None:
        f = flat(raw)
        pending = self._pending.get(f.get("710", ""))
        if pending is None:
            return
        try:
            long_qty = _number(f.get("704")) or Decimal(0)
            short_qty = _number(f.get("705")) or Decimal(0)
            pending.rows.append(VenuePosition(
                f.get("55", ""), long_qty - short_qty, _number(f.get("730")), None,
                f.get("1", "")))
        except ValueError as exc:
            self.session.connector.report_error(
                f"unreadable PositionReport {f.get('721')!r}: {exc}", code="AP:bad-report")
        if pending.expected is None and f.get("727"):
            pending.expected = int(f["727"])
        pending.settle()
