"""Market data of the FIX exchange simulator: who subscribed to what, and the W / X
messages that keep each subscriber's book in step with the exchange's.

A subscription has its own MDReqID, entry types (bid, offer, trade), depth, and RptSeq
(83) counter; the publisher remembers the levels it last sent to each, so an update
carries only what changed: new (279=0), change (1) and delete (2) entries keyed by price.
"""

from __future__ import annotations

import attrs

from stockfish_core.plugin_api import OrderBookSnapshot

from ..messages import transact_time
from ..requests import Body

__all__ = ["MdSub", "Publisher", "level_text"]

Levels = dict[str, str]  # price text -> size text
Groups = list[tuple[int, int, list[list[tuple[int, str]]]]]


def level_text(value: float) -> str:
    """A market-data price or size as FIX text (``300`` for 300.0, ``100.01``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@attrs.define(slots=True, eq=False)
class MdSub:
    session: str
    md_req_id: str
    symbol: str
    entry_types: frozenset[str]
    depth: int
    rpt_seq: int = 0
    sent: dict[str, Levels] = attrs.Factory(lambda: {"0": {}, "1": {}})

    def next_seq(self) -> str:
        self.rpt_seq += 1
        return str(self.rpt_seq)


def _levels(book: OrderBookSnapshot, side: str, depth: int) -> Levels:
    levels = book.bids if side == "0" else book.asks
    if depth > 0:
        levels = levels[:depth]
    return {level_text(lv.price): level_text(lv.size) for lv in levels}


class Publisher:
    """Market-data subscriptions of all sessions; builds W and X bodies."""

    def __init__(self) -> None:
        self.subs: dict[tuple[str, str], MdSub] = {}

    def add(self, sub: MdSub) -> None:
        self.subs[(sub.session, sub.md_req_id)] = sub

    def remove(self, session: str, md_req_id: str) -> MdSub | None:
        return self.subs.pop((session, md_req_id), None)

    def drop_session(self, session: str) -> None:
        for key in [k for k in self.subs if k[0] == session]:
            del self.subs[key]

    def for_symbol(self, symbol: str) -> list[MdSub]:
        return [s for s in self.subs.values() if s.symbol == symbol]

    @staticmethod
    def snapshot(sub: MdSub, book: OrderBookSnapshot, last: tuple[str, str] | None,
                 fix50: bool) -> tuple[Body, Groups]:
        """A MarketDataSnapshotFullRefresh, and the subscriber's levels reset to it."""
        entries: list[list[tuple[int, str]]] = []
        for side in ("0", "1"):
            if side not in sub.entry_types:
                continue
            levels = _levels(book, side, sub.depth)
            sub.sent[side] = levels
            entries += [[(269, side), (270, px), (271, size)] for px, size in levels.items()]
        if "2" in sub.entry_types and last is not None:
            entries.append([(269, "2"), (270, last[0]), (271, last[1])])
        body: Body = [(262, sub.md_req_id), (55, sub.symbol)]
        if fix50:
            body.append((779, transact_time()))
        if not entries:
            body.append((268, "0"))
            return body, []
        return body, [(268, 269, entries)]

    @staticmethod
    def update(sub: MdSub, book: OrderBookSnapshot | None,
               trades: list[tuple[str, str, str]], fix50: bool) -> tuple[Body, Groups] | None:
        """A MarketDataIncrementalRefresh for what changed, or None if nothing did.

        ``trades`` are (price text, size text, trade id). RptSeq (83) is in the entries of
        FIX 5.0 only (FIX 4.2 and 4.4 do not define it there).
        """
        entries: list[list[tuple[int, str]]] = []

        def seq() -> list[tuple[int, str]]:
            return [(83, sub.next_seq())] if fix50 else []

        if book is not None:
            for side in ("0", "1"):
                if side not in sub.entry_types:
                    continue
                old = sub.sent[side]
                new = _levels(book, side, sub.depth)
                for px in old.keys() - new.keys():
                    entries.append([(279, "2"), (269, side), (55, sub.symbol), (270, px),
                                    *seq()])
                for px, size in new.items():
                    action = "0" if px not in old else "1" if old[px] != size else None
                    if action is not None:
                        entries.append([(279, action), (269, side), (55, sub.symbol),
                                        (270, px), (271, size), *seq()])
                sub.sent[side] = new
        if "2" in sub.entry_types:
            for px, size, trade_id in trades:
                entries.append([(279, "0"), (269, "2"), (278, trade_id), (55, sub.symbol),
                                (270, px), (271, size), *seq()])
        if not entries:
            return None
        return [(262, sub.md_req_id)], [(268, 279, entries)]
