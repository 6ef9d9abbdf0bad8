"""The index of rules to tests in tests/README.md is current, and complete."""

from pathlib import Path

from tests.rule_index import RULES, citations, table

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- rule index: begin -->\n", "<!-- rule index: end -->\n"


def test_readme_index_is_current():
    text = README.read_text()
    current = text[text.index(BEGIN) + len(BEGIN): text.index(END)]
    assert current == table(), "tests/README.md is stale: run `python -m tests.rule_index` and paste its table."


def test_every_rule_has_a_test():
    missing = [rule for rule, tests in citations().items() if not tests]
    assert missing == [], f"rules of PBT-SPEC.md without a test: {missing}"
    assert len(RULES) == 36
