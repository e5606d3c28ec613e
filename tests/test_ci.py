"""The suite refuses to pass with skipped tests."""

import inspect

import tests.conftest as suite_conftest

pytest_plugins = ["pytester"]


def test_a_skipped_test_fails_the_run(pytester):
    pytester.makeconftest(inspect.getsource(suite_conftest.pytest_sessionfinish))
    pytester.makepyfile(
        "import pytest\n\ndef test_ok():\n    pass\n\n@pytest.mark.skip\ndef test_later():\n    pass\n"
    )
    result = pytester.runpytest("-p", "no:django")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*1 test(s) skipped; the suite must run every test*"])


def test_a_clean_run_passes(pytester):
    pytester.makeconftest(inspect.getsource(suite_conftest.pytest_sessionfinish))
    pytester.makepyfile("def test_ok():\n    pass\n")
    assert pytester.runpytest("-p", "no:django").ret == 0
