"""Start-up checks of settings.BCPAGES."""

import pytest
from django.test import override_settings

from tasks.checks import check_settings


def ids(**bcpages):
    with override_settings(BCPAGES=bcpages):
        return [error.id for error in check_settings()]


def test_defaults_pass():
    assert ids() == []


@pytest.mark.parametrize("name", ["MAX_RUNNING", "MAX_QUEUED", "DEFAULT_TIMEOUT_MS", "MAX_TIMEOUT_MS", "CHILD_SESSIONS"])
@pytest.mark.parametrize("value", [0, -1, "5", 2.5, None])
def test_limits_must_be_positive_integers(name, value):  # S9, S12
    assert "bcpages.E002" in ids(**{name: value})


def test_default_timeout_above_the_maximum_is_refused():  # S9
    assert ids(DEFAULT_TIMEOUT_MS=700_000, MAX_TIMEOUT_MS=600_000) == ["bcpages.E003"]


def test_unknown_setting_and_bad_playground_value():
    assert ids(MAX_RUNING=5) == ["bcpages.E001"]
    assert ids(PLAYGROUND="maybe") == ["bcpages.E004"]


def test_the_error_names_the_setting_and_value():
    with override_settings(BCPAGES={"MAX_QUEUED": -3}):
        [error] = check_settings()
    assert "BCPAGES['MAX_QUEUED'] is -3" in error.msg


def test_manage_py_check_fails_at_start_up_on_a_bad_limit(tmp_path):
    import subprocess
    import sys

    settings = tmp_path / "bad_settings.py"
    settings.write_text("from tests.settings import *\nBCPAGES = {**BCPAGES, 'MAX_RUNNING': 0}\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:.", "DJANGO_SETTINGS_MODULE": "bad_settings"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "bcpages.E002" in result.stderr and "MAX_RUNNING" in result.stderr
