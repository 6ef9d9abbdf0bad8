"""The README's test API example runs as written (S35).

A user copies the "Testing pages" example into a test suite; it must pass there.
This test takes the code block from README.md itself, so the README cannot drift
from what the test API does.
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE_HEADER = "# tests/test_customer_card.py"


def readme_example():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    examples = [block for block in blocks if block.startswith(EXAMPLE_HEADER)]
    assert len(examples) == 1, f"README.md should hold one code block starting with {EXAMPLE_HEADER!r}"
    namespace = {"__name__": "readme_example"}
    exec(compile(examples[0], "README.md (Testing pages)", "exec"), namespace)
    return namespace


def test_the_example_has_the_tests_it_promises():
    tests = sorted(name for name in readme_example() if name.startswith("test_"))
    assert tests == ["test_balance_codeunit_is_read_only", "test_card_shows_the_balance"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["test_card_shows_the_balance", "test_balance_codeunit_is_read_only"])
def test_the_readme_test_api_example_passes(name):
    # S35: the test API drives the page and runs codeunits as a child session would.
    readme_example()[name]()
