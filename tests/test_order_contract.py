"""The order contract (docs/order-contract.md) is checked against the code, the way the
plugin guide's hook sections are: every action, status and field, the conformance tests
and the VenueUnderTest controls appear, and nothing that is not there."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from stockfish_core import Execution, Fill, OrderAction, OrderStatus, OrderUpdate
from stockfish_core.reporting import UNKNOWN_ORDER
from stockfish_core.testing import conformance

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "order-contract.md"
FIXTURE = "examples/stockfish-jsonvenue/tests/test_conformance.py"


def _section(title: str) -> str:
    """The text under a ``## title`` heading, up to the next ``## `` heading."""
    text = PAGE.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/order-contract.md has no section '## {title}'"
    return match.group(1)


def _table_names(text: str) -> list[str]:
    """The first column of the tables in ``text``, without the backquotes."""
    return re.findall(r"^\| `([^`]+)` \|", text, re.M)


def test_every_action_has_its_section() -> None:
    headings = re.findall(r"^### (\w+)$", _section("Per action"), re.M)
    assert headings == [a.name for a in OrderAction]


@pytest.mark.parametrize("cls", [OrderUpdate, Fill, Execution], ids=lambda c: c.__name__)
def test_every_field_is_in_its_table(cls: type) -> None:
    documented = _table_names(_section(cls.__name__))
    assert documented == [f.name for f in attrs.fields(cls)]


def test_every_status_says_who_sets_it() -> None:
    rows = re.findall(r"^\| `(\w+)` \| ([a-z ]+) \|", _section("Who sets which status"), re.M)
    assert [name for name, _ in rows] == [s.name for s in OrderStatus]
    for name, who in rows:
        assert set(who.split(" and ")) <= {"plugin", "core"}, name


def test_the_unknown_order_answer_is_the_one_the_code_uses() -> None:
    assert f'reason="{UNKNOWN_ORDER}"' in _section("Per action")


def test_every_conformance_test_and_control_is_listed() -> None:
    text = _section("The conformance suite")
    tests = [n for n in vars(conformance.ConnectorConformance) if n.startswith("test_")]
    fields = [f.name for f in attrs.fields(conformance.VenueUnderTest)]
    assert _table_names(text) == tests + fields
    for counter in (*conformance.CLEAN_STATS, *conformance.CLEAN_CONNECTOR_STATS):
        assert f"`{counter}`" in text, counter


def test_the_full_fixture_is_the_example_s_own_file() -> None:
    assert f'--8<-- "{FIXTURE}"' in _section("The conformance suite")
    assert "class TestJsonVenueConformance(ConnectorConformance)" in (ROOT / FIXTURE).read_text()


def test_the_json_venue_config_is_documented() -> None:
    from stockfish_core.configdoc import undocumented
    from stockfish_jsonvenue import JsonVenueConfig

    assert not undocumented(JsonVenueConfig)
