"""Settings from the environment: a bad value stops start-up with a sentence that
names the variable and the value, never a bare traceback from ``int()``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from bcpages.settings import env_int

PROJECT = Path(__file__).resolve().parents[2]


def test_unset_or_empty_gives_the_default(monkeypatch):
    monkeypatch.delenv("BCPAGES_TEST_NUMBER", raising=False)
    assert env_int("BCPAGES_TEST_NUMBER", 7) == 7
    monkeypatch.setenv("BCPAGES_TEST_NUMBER", " ")
    assert env_int("BCPAGES_TEST_NUMBER", 7) == 7
    monkeypatch.setenv("BCPAGES_TEST_NUMBER", "12")
    assert env_int("BCPAGES_TEST_NUMBER", 7) == 12


@pytest.mark.parametrize("raw", ["abc", "2.5", "0", "-3"])
def test_a_value_that_is_not_a_whole_number_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("BCPAGES_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured) as refused:
        env_int("BCPAGES_TEST_NUMBER", 7)
    assert str(refused.value) == (
        f"Environment variable BCPAGES_TEST_NUMBER is {raw!r}; it must be a whole number of at least 1 "
        "(unset it for the default, 7)."
    )


def test_manage_py_refuses_to_start_with_a_bad_number_of_child_sessions():
    env = {**os.environ, "BCPAGES_CHILD_SESSIONS": "four", "DJANGO_SETTINGS_MODULE": "bcpages.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "Environment variable BCPAGES_CHILD_SESSIONS is 'four'; it must be a whole number" in result.stderr
