"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_python_examples() -> None:
    assert BLOCKS, "README.md should show at least one Python example"


@pytest.mark.parametrize("source", BLOCKS)
def test_readme_example_runs(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(source, str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    expected = re.findall(r"print\(.*\)\s+# (.+)", source)
    for line in expected:
        assert line.strip() in printed
