"""Serialising models to plain dicts and JSON and back, with cattrs.

Decimals travel as strings (never binary floats), enums as their values, and a
:class:`~stockfish_core.models.MarketUpdate` carries its payload as a dict whose class is
given by ``data_type``. ``from_dict(to_dict(x), type(x)) == x`` for every model.
"""

from __future__ import annotations

import enum
import json
from decimal import Decimal
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from .models import PAYLOAD_TYPES, ConnectorStatus, DataType, MarketUpdate
from .orders import Order, OrderAction, OrderSide, OrderStatus, OrderType, TimeInForce

__all__ = ["converter", "from_dict", "from_json", "to_dict", "to_json"]

T = TypeVar("T")

converter = cattrs.Converter()
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))


def _enum_value(member: enum.Enum) -> Any:
    return member.value


# Registered per class: these enums are str subclasses, and dispatch on the class
# hierarchy would otherwise pick the hook for str and leave the member as it is.
for _enum in (ConnectorStatus, DataType, OrderAction, OrderSide, OrderStatus, OrderType,
              TimeInForce):
    converter.register_unstructure_hook(_enum, _enum_value)

#: An order's trailing-stop and GTD terms are written only when set: every other order
#: keeps the shape it always had (the journal's rows among them).
#: The fields of a class that its dict leaves out while they hold their default (the
#: journal's fast writer follows the same rule).
OMITTED_WHEN_DEFAULT: dict[type, tuple[str, ...]] = {
    Order: ("trail_amount", "trail_percent", "expire_ns"),
}
for _cls, _names in OMITTED_WHEN_DEFAULT.items():
    _overrides: dict[str, Any] = {n: override(omit_if_default=True) for n in _names}
    converter.register_unstructure_hook(_cls, make_dict_unstructure_fn(
        _cls, converter, **_overrides))


def _unstructure_update(update: MarketUpdate) -> dict[str, Any]:
    return {
        "data_type": update.data_type.value,
        "payload": (
            dict(update.payload)
            if isinstance(update.payload, dict)
            else converter.unstructure(update.payload)
        ),
        "source": update.source,
        "sequence_number": update.sequence_number,
        "venue_ts_ns": update.venue_ts_ns,
        "recv_ts_ns": update.recv_ts_ns,
        "stream": update.stream,
    }


def _structure_update(data: dict[str, Any], _: Any) -> MarketUpdate:
    data_type = DataType(data["data_type"])
    payload_type = PAYLOAD_TYPES[data_type]
    raw = data["payload"]
    payload = dict(raw) if payload_type is dict else converter.structure(raw, payload_type)
    return MarketUpdate(
        data_type,
        payload,
        source=data.get("source", ""),
        sequence_number=data.get("sequence_number"),
        venue_ts_ns=data.get("venue_ts_ns", 0),
        recv_ts_ns=data.get("recv_ts_ns", 0),
        stream=data.get("stream", ""),
    )


converter.register_unstructure_hook(MarketUpdate, _unstructure_update)
converter.register_structure_hook(MarketUpdate, _structure_update)


def to_dict(obj: Any) -> Any:
    """A model as plain data (dicts, lists, str, int, float, None)."""
    return converter.unstructure(obj)


def from_dict(data: Any, cls: type[T]) -> T:
    """Rebuild a model of class ``cls`` from :func:`to_dict` output."""
    return converter.structure(data, cls)


def to_json(obj: Any) -> str:
    return json.dumps(to_dict(obj), separators=(",", ":"))


def from_json(text: str | bytes, cls: type[T]) -> T:
    return from_dict(json.loads(text), cls)
