"""The index of rules to tests in tests/README.md is current, and complete."""

from tests.rule_index import RULES, citations, indexed, table


def test_readme_index_is_current():
    assert indexed() == table(), "tests/README.md is stale: run `python -m tests.rule_index --write`."


def test_every_rule_has_a_test():
    missing = [rule for rule, tests in citations().items() if not tests]
    assert missing == [], f"rules of PBT-SPEC.md without a test: {missing}"
    assert len(RULES) == 36
