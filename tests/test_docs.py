"""The documentation keeps up with the code: every command, transform and state is in it."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from gateway.cli import app
from gateway.mapping.transforms import REGISTRY
from gateway.model import ExchangeState

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_paths(cmd: object, prefix: str = "gateway") -> list[str]:
    if hasattr(cmd, "commands"):  # a group
        return [p for name, sub in sorted(cmd.commands.items())
                for p in command_paths(sub, f"{prefix} {name}")]
    return [prefix]


def test_every_command_is_in_the_readme() -> None:
    paths = command_paths(typer.main.get_command(app))
    assert "gateway rejected reprocess" in paths and "gateway demo" in paths
    missing = [p for p in paths if f"`{p}" not in README]
    assert missing == []


def test_every_transform_is_in_the_mappings_readme() -> None:
    text = (ROOT / "mappings" / "README.md").read_text(encoding="utf-8")
    assert [t for t in REGISTRY if f"`{t}`" not in text] == []


def test_every_state_is_in_the_readme() -> None:
    assert [s.value for s in ExchangeState if f"`{s.value}`" not in README] == []


def test_quick_start_is_two_commands_and_ci_runs_the_same_test_line() -> None:
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", README, re.S)
    assert block is not None
    commands = block.group(1).strip().splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("gateway demo")
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci
