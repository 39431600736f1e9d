"""The `smtpx` command as users run it: the installed console script, in a subprocess.

Exit codes follow sysexits.h (DESIGN.md, Command line): a usage mistake is 64
(EX_USAGE), told in one line, with no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

import smtpx
from smtpx.cli import EX_USAGE, main

# The console script pip installed next to this interpreter (.venv/bin/smtpx).
SCRIPT = Path(sys.executable).with_name("smtpx")


def run(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    if module:
        command = [sys.executable, "-m", "smtpx", *args]
    else:
        assert SCRIPT.exists(), f"{SCRIPT} missing: install the project (make venv)"
        command = [str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_help_exits_0_and_names_smtpx() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert "smtpx" in result.stdout
    assert "Usage:" in result.stdout


def test_version_prints_the_installed_version() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"smtpx {version('smtpx')}\n"
    assert smtpx.__version__ == version("smtpx") == "0.1.0"


def test_python_dash_m_smtpx_is_the_same_command() -> None:
    result = run("--version", module=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"smtpx {smtpx.__version__}\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--no-such-option"], ("No such option", "--no-such-option")),
        (["no-such-command"], ("No such command", "no-such-command")),
    ],
)
def test_usage_mistake_exits_64_with_one_line(args: list[str], said: tuple[str, str]) -> None:
    result = run(*args)
    assert result.returncode == EX_USAGE == 64
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("smtpx: ")
    assert all(words in line for words in said), line
    assert line.endswith(". Try 'smtpx --help'.")


def test_bare_command_shows_help_and_exits_64() -> None:
    result = run()
    assert result.returncode == EX_USAGE
    assert "Usage:" in result.stderr


def test_usage_error_in_process_exits_64() -> None:
    # The same path without a subprocess, so coverage sees the error handling.
    result = CliRunner().invoke(main, ["--no-such-option"], prog_name="smtpx")
    assert result.exit_code == EX_USAGE
    [line] = result.output.splitlines()
    assert line.startswith("smtpx: No such option")
    assert line.endswith(". Try 'smtpx --help'.")


def test_bare_command_in_process_exits_64() -> None:
    result = CliRunner().invoke(main, [], prog_name="smtpx")
    assert result.exit_code == EX_USAGE
    assert "Usage: smtpx" in result.output
