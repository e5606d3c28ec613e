"""Settings come from the environment; production settings pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    unset = {"DEBUG", "SECRET_KEY", "CUSTODIAN_ENV", "CUSTODIAN_PEPPER"}
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_with_no_warnings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        CUSTODIAN_ENV="production",
        SECRET_KEY="x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
        CUSTODIAN_PEPPER="production-pepper-of-its-own-0123456789",
        ALLOWED_HOSTS="custodian.example.org",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", CUSTODIAN_ENV="production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_malformed_boolean_is_a_clear_error():
    result = manage("check", DEBUG="maybe")
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_embedded_default_is_sqlite_with_in_process_jobs(tmp_path):
    code = (
        "import django, os; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CUSTODIAN_JOBS_SYNC)"
    )
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True"], result.stderr
