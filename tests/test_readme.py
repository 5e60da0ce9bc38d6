"""The README's Python examples run (docs that run never rot)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "(108, 61, 3) 0" in out


def test_readme_opens_with_two_commands():
    text = README.read_text().splitlines()
    fence = [i for i, line in enumerate(text) if line.startswith("```")]
    first = text[fence[0] + 1 : fence[1]]
    assert fence[0] < 4 and len([x for x in first if x.strip()]) == 2
    assert "kongtian demo" in first[0] and "scripts/test.sh" in first[1]
