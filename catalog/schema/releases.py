"""Publishing a release: snapshot the catalog as version N with its migration from N-1 and back, linted."""

from django.db import transaction
from django.utils.translation import gettext as _

from catalog.choices import LintSeverity
from catalog.models import DataStore, SchemaRelease
from catalog.schema.ddl import Statement, ddl_render
from catalog.schema.dialects import profile_for
from catalog.schema.diff import schema_diff
from catalog.schema.lint import release_lint
from catalog.schema.migrate import migration_statements
from catalog.schema.model import schema_model_from_snapshot
from catalog.schema.snapshot import snapshot_build, snapshot_checksum, snapshot_empty
from catalog.schema.stats import table_rows_read
from core.errors import SchemaError

__all__ = ["release_publish", "release_preview", "ReleasePreview"]


class ReleasePreview:
    """What publishing now would record: changes, up/down statements and lint findings."""

    def __init__(self, datastore: DataStore, table_rows: dict[str, int] | None = None):
        self.datastore = datastore
        self.previous = datastore.releases.order_by("-version").first()
        self.version = (self.previous.version if self.previous else 0) + 1
        self.snapshot = snapshot_build(datastore)
        self.checksum = snapshot_checksum(self.snapshot)
        # Each snapshot is read into the typed model once, for the diff and both migrations.
        previous = self.previous.snapshot if self.previous else snapshot_empty(datastore)
        old = schema_model_from_snapshot(previous)
        new = schema_model_from_snapshot(self.snapshot)
        profile = profile_for(datastore.engine)
        self.changes = schema_diff(old, new)
        self.up = migration_statements(old, new, profile)
        self.down = migration_statements(new, old, profile)
        self.findings = release_lint(self.changes, table_rows if self.previous else {})
        self.errors = [f for f in self.findings if f.severity == LintSeverity.ERROR]

    @property
    def unchanged(self) -> bool:
        return self.previous is not None and self.previous.checksum == self.checksum

    def script(self, statements: list[Statement], direction: str, message: str) -> str:
        target = self.version if direction == "up" else self.version - 1
        header = (
            f"Custodian release of data store '{self.datastore.name}' "
            f"({self.datastore.get_engine_display()})\n"
            f"{'Up' if direction == 'up' else 'Down'}: version {self.version - (direction == 'up')} -> "
            f"{target}. {message}\nSnapshot checksum {self.checksum}"
        )
        return ddl_render(statements, header)


def release_preview(*, datastore: DataStore, table_rows: dict[str, int] | None = None) -> ReleasePreview:
    """The release that publishing would make now, without making it. Lint knows the tables' sizes when
    given them or when the data store's database can be read."""
    if table_rows is None:
        table_rows = table_rows_read(datastore)
    return ReleasePreview(datastore, table_rows)


@transaction.atomic
def release_publish(
    *,
    datastore: DataStore,
    user,
    message: str,
    allow_destructive: bool = False,
    table_rows: dict[str, int] | None = None,
    expected_checksum: str | None = None,
) -> SchemaRelease:
    """Snapshot the data store's catalog as the next version, with its up/down SQL and lint findings.

    Error-level findings (data loss, narrowing, NOT NULL on rows) need `allow_destructive`, which the release
    records. Nothing is recorded when the catalog has not changed since the last release.
    """
    DataStore.objects.select_for_update().get(pk=datastore.pk)  # one publisher at a time numbers versions
    if not message.strip():
        raise SchemaError(_("A release needs a message saying what it changes."))
    preview = release_preview(datastore=datastore, table_rows=table_rows)
    if expected_checksum and preview.checksum != expected_checksum:
        raise SchemaError(
            _(
                "The catalog of '%(store)s' changed since this release was previewed; review the new "
                "preview before publishing."
            )
            % {"store": datastore.name}
        )
    if preview.unchanged:
        raise SchemaError(
            _("Nothing changed in '%(store)s' since version %(v)d; no release was made.")
            % {"store": datastore.name, "v": preview.previous.version}
        )
    if preview.errors and not allow_destructive:
        reasons = "\n".join(f"- {f.message}" for f in preview.errors)
        raise SchemaError(
            _(
                "Release %(v)d of '%(store)s' needs confirmation:\n%(reasons)s\nConfirm to release "
                "anyway (--allow-destructive)."
            )
            % {"v": preview.version, "store": datastore.name, "reasons": reasons}
        )
    up = [s.sql for s in preview.up if not s.is_note]
    down = [s.sql for s in preview.down if not s.is_note]
    return SchemaRelease.objects.create(
        datastore=datastore,
        version=preview.version,
        message=message.strip()[:200],
        dialect=datastore.engine,
        snapshot=preview.snapshot,
        checksum=preview.checksum,
        changes=[c.as_dict() for c in preview.changes],
        up_sql=preview.script(preview.up, "up", message.strip()[:200]),
        down_sql=preview.script(preview.down, "down", message.strip()[:200]),
        up_statements=up,
        down_statements=down,
        lint_findings=[f.as_dict() for f in preview.findings],
        has_lint_errors=bool(preview.errors),
        destructive_confirmed=bool(preview.errors) and allow_destructive,
        created_by=user,
    )
