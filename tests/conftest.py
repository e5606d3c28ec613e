"""Shared fixtures: users in each role, a small catalog, and a suite that fails when a test is skipped."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from catalog.choices import DataType, PIICategory
from catalog.models import Column, DataStore, Entity
from catalog.roles import COMPLIANCE_OFFICER, DATA_STEWARD, PLATFORM_ADMIN
from catalog.services import catalog_object_save

ROLE_USERS = {"steward": DATA_STEWARD, "officer": COMPLIANCE_OFFICER, "platform": PLATFORM_ADMIN}


def pytest_sessionfinish(session, exitstatus):
    # CI runs the whole suite: a skipped test is a failure, not a footnote.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; the suite must run every test.", red=True)
        session.exitstatus = 1


def pytest_collection_modifyitems(config, items):
    # A transactional test without serialized_rollback flushes the data migrations' roles and makes
    # the next serialized test fail on duplicate content types; ask for both, always.
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            raise pytest.UsageError(
                f"{item.nodeid}: use @pytest.mark.django_db(transaction=True, serialized_rollback=True)."
            )


@pytest.fixture(autouse=True, scope="session")
def redis_database_emptied():
    """The test Redis database belongs to the suite: start it empty, so no job of an earlier run (job ids
    follow run ids) is met again."""
    import os

    if os.environ.get("REDIS_URL"):
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: str | None = None, **extra):
    user = get_user_model().objects.create_user(
        username=username, password="pw-" + username, is_staff=True, **extra
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def steward(db):
    return make_user("steward", DATA_STEWARD)


@pytest.fixture
def officer(db):
    return make_user("officer", COMPLIANCE_OFFICER)


@pytest.fixture
def platform_admin(db):
    return make_user("platform", PLATFORM_ADMIN)


@pytest.fixture
def superuser(db):
    return make_user("root", is_superuser=True)


@pytest.fixture
def role_client(client, steward, officer, platform_admin):
    """client_for("steward") logs the test client in as that role's user."""

    users = {"steward": steward, "officer": officer, "platform": platform_admin}

    def client_for(role: str):
        client.force_login(users[role])
        return client

    return client_for


@pytest.fixture
def datastore(db, steward):
    return catalog_object_save(
        obj=DataStore(name="shop", engine="postgresql", schema_name="public"), user=steward
    )


def add_column(entity, name, data_type=DataType.INTEGER, user=None, **fields):
    return catalog_object_save(obj=Column(entity=entity, name=name, data_type=data_type, **fields), user=user)


@pytest.fixture
def customer(datastore, steward):
    """customer(id PK, email varchar(200) unique PII, created_at timestamptz)."""
    entity = catalog_object_save(
        obj=Entity(datastore=datastore, name="customer", owner=steward), user=steward
    )
    add_column(entity, "id", DataType.BIGINT, steward, primary_key_position=1, nullable=False)
    add_column(
        entity,
        "email",
        DataType.VARCHAR,
        steward,
        length=200,
        is_unique=True,
        pii_category=PIICategory.DIRECT_IDENTIFIER,
        masking_strategy="hash",
    )
    add_column(entity, "created_at", DataType.TIMESTAMPTZ, steward, nullable=False, default_value="now()")
    return entity
