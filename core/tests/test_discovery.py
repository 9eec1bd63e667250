"""Listing installed plugins from the distributions' folders (discovery.scan) finds what
importlib.metadata's entry points find (discovery.discover), without importing it."""

from __future__ import annotations

from pathlib import Path

from stockfish_core.discovery import PluginInfo, discover, scan


def dist(site: Path, name: str, version: str, entry_points: str, *,
         summary: str = "a plugin", egg: bool = False) -> None:
    if egg:
        folder = site / f"{name}.egg-info"
        meta = folder / "PKG-INFO"
    else:
        folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
        meta = folder / "METADATA"
    folder.mkdir(parents=True)
    meta.write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                    f"Summary: {summary}\n\nName: not a header\n")
    (folder / "entry_points.txt").write_text(entry_points)


def rows(found: dict[str, list[PluginInfo]]) -> dict[str, list[tuple]]:
    return {n: [(i.value, i.distribution, i.version, i.summary) for i in infos]
            for n, infos in sorted(found.items())}


def test_scan_reads_the_group_and_the_metadata_headers(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "stockfish-alpha", "1.2", "# comment\n[console_scripts]\nalpha = x:main\n\n"
         "[stockfish]\nalpha = stockfish_alpha.plugin\n; another comment\n"
         "[stockfish.commands]\nalpha = stockfish_alpha.cli:register\n")
    dist(site, "unrelated", "3.0", "[console_scripts]\nstockfish = nope:main\n")
    dist(site, "Old_Style", "0.9", "[stockfish]\nold = old_style\n", egg=True)
    found = scan([str(site)])
    assert rows(found) == {
        "alpha": [("stockfish_alpha.plugin", "stockfish-alpha", "1.2", "a plugin")],
        "old": [("old_style", "Old_Style", "0.9", "a plugin")],
    }
    assert rows(scan([str(site)], group="stockfish.commands")) == {
        "alpha": [("stockfish_alpha.cli:register", "stockfish-alpha", "1.2", "a plugin")]}


def test_the_first_distribution_of_a_name_on_the_path_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist(first, "stockfish-alpha", "2.0", "[stockfish]\nalpha = new.plugin\n")
    dist(second, "stockfish_alpha", "1.0", "[stockfish]\nalpha = old.plugin\n")
    found = scan([str(first), str(second), str(tmp_path / "missing")])
    assert rows(found) == {"alpha": [("new.plugin", "stockfish-alpha", "2.0", "a plugin")]}


def test_two_distributions_claiming_one_name_are_both_listed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "stockfish-alpha", "1.0", "[stockfish]\nalpha = a.plugin\n")
    dist(site, "other-alpha", "1.0", "[stockfish]\nalpha = b.plugin\n")
    assert sorted(v for v, *_ in rows(scan([str(site)]))["alpha"]) == ["a.plugin", "b.plugin"]


def test_scan_agrees_with_the_entry_points_of_this_environment() -> None:
    assert rows(scan()) == rows(discover())
    assert {"sim", "replay"} <= set(scan())  # the core's own, at least
