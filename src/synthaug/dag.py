"""The pipeline picture for the README: `dvc dag --md`, with foreach/matrix copies folded.

    python -m synthaug.dag        # prints a mermaid flowchart (GitHub renders it)

`dvc dag` draws one node per stage instance (65 classifier nodes by default); this
folds `stage@key` instances into one node per stage, labelled with the count.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

_NODE = re.compile(r'^\s*(node\d+)\["([^"]+)"\]\s*$')
_EDGE = re.compile(r"^\s*(node\d+)-->(node\d+)\s*$")


def collapse_mermaid(text: str) -> str:
    """Fold the nodes of ``dvc dag --md`` output by stage name (the part before '@')."""
    names: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in text.splitlines():
        if m := _NODE.match(line):
            names[m.group(1)] = m.group(2).split("@")[0]
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
    counts = Counter(names.values())
    order = list(dict.fromkeys(names.values()))
    ids = {stage: f"s{i}" for i, stage in enumerate(order)}
    lines = ["```mermaid", "flowchart TD"]
    for stage in order:
        label = stage if counts[stage] == 1 else f"{stage} ×{counts[stage]}"
        lines.append(f'\t{ids[stage]}["{label}"]')
    seen = set()
    for a, b in edges:
        edge = (ids[names[a]], ids[names[b]])
        if edge[0] != edge[1] and edge not in seen:
            seen.add(edge)
            lines.append(f"\t{edge[0]}-->{edge[1]}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Print the folded pipeline flowchart of the DVC project in the current folder."""
    out = subprocess.run([sys.executable, "-m", "dvc", "dag", "--md"], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return 2
    print(collapse_mermaid(out.stdout), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
