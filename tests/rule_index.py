"""Which tests prove which rule of PBT-SPEC.md (S1..S36).

Tests cite rules in a comment on their ``def`` line or the line above it
(``# S14`` or ``# S14, S17``). ``python -m tests.rule_index`` prints the table
that ``tests/README.md`` holds, ``--write`` puts it there; ``tests/test_rule_index.py``
checks that the two agree and that every rule has a test.
"""

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

RULES = [f"S{n}" for n in range(1, 37)]
TESTS = Path(__file__).resolve().parent
README = TESTS / "README.md"
BEGIN, END = "<!-- rule index: begin -->\n", "<!-- rule index: end -->\n"
_CITATION = re.compile(r"#.*?\b(S\d{1,2}(?:\s*,\s*S\d{1,2})*)\b")


def citations():
    """rule -> sorted list of "path::test" that cite it."""
    found = defaultdict(set)
    for path in sorted(TESTS.rglob("test_*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.name.startswith("test"):
                continue
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            window = lines[max(0, first - 2): node.body[0].lineno - 1]
            for line in window:
                for match in _CITATION.finditer(line):
                    for rule in re.findall(r"S\d{1,2}", match.group(1)):
                        found[rule].add(f"{path.relative_to(TESTS.parent)}::{node.name}")
    return {rule: sorted(found[rule]) for rule in RULES}


def table():
    rows = ["| rule | tests |", "|---|---|"]
    for rule, tests in citations().items():
        cell = "<br>".join(f"`{t}`" for t in tests) if tests else "**none yet**"
        rows.append(f"| {rule} | {cell} |")
    return "\n".join(rows) + "\n"


def indexed():
    """The table tests/README.md holds now."""
    text = README.read_text()
    return text[text.index(BEGIN) + len(BEGIN): text.index(END)]


def write():
    text = README.read_text()
    README.write_text(text[: text.index(BEGIN) + len(BEGIN)] + table() + text[text.index(END):])


if __name__ == "__main__":
    write() if sys.argv[1:] == ["--write"] else sys.stdout.write(table())
