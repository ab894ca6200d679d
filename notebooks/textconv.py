"""Print a stored notebook as reviewable text: a git ``textconv`` for ``*.ipynb``.

Cells come out in jupytext percent form; each output as its text (``# >`` lines) and each picture
as one line naming its type, size and hash, so ``git diff``/``git log -p`` show what changed in a
notebook without pages of JSON or base64. Standard library only. Enable it once per clone:

    git config diff.nbtext.textconv "python3 notebooks/textconv.py"
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from typing import Any

PICTURES = ("image/png", "image/svg+xml", "image/jpeg")


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _output_lines(output: dict[str, Any]) -> Iterator[str]:
    if output.get("output_type") == "stream":
        text = _text(output.get("text", ""))
    elif output.get("output_type") == "error":
        text = f"{output.get('ename')}: {output.get('evalue')}"
    else:
        data = output.get("data", {})
        for kind in PICTURES:
            if kind in data:
                blob = _text(data[kind]).encode()
                digest = hashlib.sha1(blob).hexdigest()[:12]
                yield f"# > [{kind}, {len(blob) / 1024:.1f} kB, sha1 {digest}]"
        text = _text(data.get("text/plain", ""))
    for line in text.rstrip("\n").splitlines():
        yield f"# > {line}".rstrip()


def notebook_text(nb: dict[str, Any]) -> str:
    """The notebook's cells and outputs as percent-format text."""
    lines = []
    for cell in nb.get("cells", []):
        source = _text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            lines.append("# %% [markdown]")
            lines += [f"# {line}".rstrip() for line in source.splitlines()]
        else:
            lines.append("# %%")
            lines += source.splitlines()
            for output in cell.get("outputs", []):
                lines += _output_lines(output)
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as file:
        sys.stdout.write(notebook_text(json.load(file)))
