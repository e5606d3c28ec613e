"""Catalogs for the code generators: the demo, and one reverse-engineered from a real PostgreSQL schema."""

import os

import pytest

from catalog.demo import demo_load
from catalog.models import DataStore
from catalog.schema.introspect import schema_introspect
from catalog.schema.snapshot import snapshot_build
from tests.catalog.schema.conftest import run_sql, scratch_database, target_store  # noqa: F401

# Names that are reserved words in Python, Java, C# or TypeScript, a composite key, a self-reference,
# checks, a partial index, comments, ON UPDATE actions and deferrable keys: what a generator must get right.
REAL_SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.department (
    id integer PRIMARY KEY,
    name varchar(80) NOT NULL UNIQUE,
    parent_id integer REFERENCES app.department(id) ON DELETE SET NULL ON UPDATE SET NULL DEFERRABLE
);
COMMENT ON TABLE app.department IS 'Organisational units';
CREATE TABLE app.employee (
    id bigint PRIMARY KEY,
    department_id integer NOT NULL REFERENCES app.department(id) ON DELETE RESTRICT,
    "class" varchar(20) CHECK ("class" IN ('staff', 'contractor')),
    "import" boolean NOT NULL DEFAULT false,
    "namespace" text,
    salary numeric(10,2) CHECK (salary >= 0),
    email varchar(254) NOT NULL,
    hired_on date NOT NULL DEFAULT CURRENT_DATE,
    external_id uuid DEFAULT gen_random_uuid()
);
COMMENT ON COLUMN app.employee.salary IS 'Gross yearly salary';
CREATE UNIQUE INDEX employee_email_idx ON app.employee (email);
CREATE INDEX employee_recent_idx ON app.employee (hired_on DESC) WHERE "import" = false;
CREATE TABLE app.assignment (
    employee_id bigint NOT NULL REFERENCES app.employee(id)
        ON UPDATE CASCADE ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    project_code char(6) NOT NULL,
    hours smallint NOT NULL CHECK (hours <= 60),
    PRIMARY KEY (employee_id, project_code)
);
"""


@pytest.fixture
def demo_snapshot(db):
    demo_load()
    return snapshot_build(DataStore.objects.get(name="shop"))


@pytest.fixture
def introspected_snapshot(target_store, steward):  # noqa: F811
    """The catalog Custodian reverse-engineers from REAL_SCHEMA, as a snapshot."""
    store = target_store("hr", "app")
    run_sql(os.environ[store.url_env], REAL_SCHEMA)
    schema_introspect(datastore=store, user=steward)
    employee_email = store.entities.get(name="employee").columns.get(name="email")
    employee_email.pii_category, employee_email.masking_strategy = "direct_identifier", "hash"
    employee_email.save()
    return snapshot_build(store)
