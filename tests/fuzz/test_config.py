"""YAML configurations and environment values, generated: through ``load_config`` and
``stockfish config check``, no traceback ever; every bad document is a ConfigError whose
problems name the file (and the key, where there is one); good documents load with the
values written."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from stockfish_core import ConfigError, PluginRegistry
from stockfish_core.cli import main as cli_main
from stockfish_core.config import Config, load_config, parse_config

TOP = ["connectors", "manager", "metrics", "plugins", "subscriptions"]
MANAGER_KEYS = ["failover_strategy", "health_check_interval", "staleness", "connect_timeout",
                "reconnect_initial_delay", "reconnect_max_delay", "journal", "bar_cache_size",
                "risk"]
SIM_KEYS = ["seed", "tick_interval", "default_price", "depth", "volatility", "symbols",
            "start_prices", "primary", "plugin", "enabled", "priority", "data_only"]

keys = st.one_of(
    st.sampled_from(TOP + MANAGER_KEYS + SIM_KEYS + ["sim", "port", "enabled"]),
    st.text(max_size=8),
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["${SF_FUZZ_VALUE}", "${SF_FUZZ_UNSET}", "${SF_FUZZ_UNSET:-7}",
                     "primary_backup", "price_tick", ":memory:", "sim", "-1", "0"]),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(keys, children, max_size=4)),
    max_leaves=25,
)
documents = st.one_of(
    trees,
    st.fixed_dictionaries({}, optional={k: trees for k in TOP}),
    st.fixed_dictionaries({"connectors": st.dictionaries(
        st.sampled_from(["sim", "s2", "true", "9x"]),
        st.dictionaries(st.sampled_from(SIM_KEYS), trees, max_size=4), max_size=3)},
        optional={"manager": st.dictionaries(st.sampled_from(MANAGER_KEYS), trees, max_size=4)}),
)

FRAGMENTS = ["connectors:", "manager:", "  sim:", "    primary: true", "metrics: {port: 1}",
             "&a", "*a", "&b [*a, *a, *a]", "<<: *a", "[", "]", "{", "}", ": ", "- ", "? ",
             "true", "1", "${SF_FUZZ_VALUE}", "\n", "  ", "\t", "!!binary", "!!python/name:os",
             "!!set", "'", '"', "#", "|", ">", "---", "...", "%YAML 1.1", "2024-13-45",
             "0x1F", "1e999", ".nan", "~", "\x00", "\ufeff", "\u2028", "é"]
texts = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join),
    st.text(max_size=200),
    documents.map(lambda d: _dump(d)),
)


def _dump(document: Any) -> str:
    try:
        return yaml.safe_dump(document, allow_unicode=True)
    except yaml.YAMLError:
        return "{}"


def _check(path: Path, registry: PluginRegistry | None = None) -> Config | None:
    error: ConfigError | None = None
    try:
        return load_config(path, registry, validate_plugins=registry is not None)
    except ConfigError as exc:
        error = exc
    assert error is not None and error.problems
    for problem in error.problems:
        assert problem.file == str(path)
        assert problem.message.strip()
        assert str(problem).startswith(f"{path}: ")
    return None


def _config_check(path: Path) -> int:
    err = io.StringIO()
    with redirect_stderr(err):
        code = cli_main(["config", "check", str(path)], out=io.StringIO())
    assert code in (0, 1)
    assert "Traceback" not in err.getvalue()
    if code == 1:
        assert err.getvalue().startswith(f"{path}: ")
    return code


@pytest.fixture
def yaml_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "stockfish.yaml"


@given(text=texts, env=st.text(max_size=20))
def test_generated_yaml_text(yaml_file: Path, text: str, env: str) -> None:
    assume("\x00" not in env)
    os.environ["SF_FUZZ_VALUE"] = env
    try:
        yaml_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    except UnicodeEncodeError:
        return
    _check(yaml_file)
    _config_check(yaml_file)


@given(raw=st.binary(max_size=200))
def test_generated_bytes(yaml_file: Path, raw: bytes) -> None:
    yaml_file.write_bytes(raw)
    _check(yaml_file)
    _config_check(yaml_file)


@given(depth=st.integers(1, 3000), kind=st.sampled_from(["[", "{a: "]))
def test_nesting(yaml_file: Path, depth: int, kind: str) -> None:
    close = "]" if kind == "[" else "}"
    yaml_file.write_text("manager: " + kind * depth + "1" * (kind != "[") + close * depth)
    _check(yaml_file)


@given(levels=st.integers(1, 12), fan=st.integers(1, 12))
def test_aliases(yaml_file: Path, levels: int, fan: int) -> None:
    lines = ["a0: &a0 [x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    yaml_file.write_text("manager:\n  risk:\n" + "".join(f"    {line}\n" for line in lines))
    _check(yaml_file)  # refused (unknown keys, or too large), never expanded without bound


_GOOD_STRATEGIES = ["round_robin", "primary_backup", "best_available"]
positive = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(
    strategy=st.sampled_from(_GOOD_STRATEGIES),
    interval=positive, staleness=positive, timeout=positive,
    delays=st.tuples(positive, positive).map(sorted),
    port=st.integers(1, 65535), cache=st.integers(1, 10_000),
    seed=st.integers(-(2**31), 2**31), depth=st.integers(1, 50),
    names=st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True),
                   min_size=1, max_size=3, unique=True),
)
def test_good_documents_load(yaml_file: Path, strategy: str, interval: float,
                             staleness: float, timeout: float, delays: list[float], port: int,
                             cache: int, seed: int, depth: int, names: list[str]) -> None:
    document = {
        "manager": {"failover_strategy": strategy, "health_check_interval": interval,
                    "staleness": staleness, "connect_timeout": timeout,
                    "reconnect_initial_delay": delays[0], "reconnect_max_delay": delays[1],
                    "bar_cache_size": cache, "journal": ":memory:"},
        "metrics": {"enabled": False, "port": port},
        "connectors": {n: {"plugin": "sim", "seed": seed, "depth": depth, "primary": i == 0}
                       for i, n in enumerate(names)},
    }
    yaml_file.write_text(yaml.safe_dump(document, sort_keys=False))
    config = _check(yaml_file, PluginRegistry())
    assert config is not None
    assert config.manager.health_check_interval == interval
    assert (config.manager.reconnect_initial_delay, config.manager.reconnect_max_delay) == \
        tuple(delays)
    assert config.metrics.port == port
    assert list(config.connectors) == names
    assert all(c.config.seed == seed and c.config.depth == depth
               for c in config.connectors.values())
    assert _config_check(yaml_file) == 0


@given(value=st.text(min_size=0, max_size=40))
def test_environment_values_arrive_exactly(value: str) -> None:
    assume("\x00" not in value)
    try:
        os.environ["SF_FUZZ_VALUE"] = value
    except (UnicodeEncodeError, ValueError):
        return
    raw = {"connectors": {"sim": {"primary": True, "seed": "${SF_FUZZ_VALUE}"}},
           "manager": {"journal": "${SF_FUZZ_VALUE}"}}
    try:
        config = parse_config(raw, PluginRegistry())
    except ConfigError as exc:
        for problem in exc.problems:
            assert problem.path in ("connectors.sim.seed", "manager.journal"), problem
        return
    assert config.manager.journal == value
    assert config.connectors["sim"].config.seed == int(value.strip())
