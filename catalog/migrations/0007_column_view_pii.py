"""Who may see personal data unmasked where Custodian shows stored values: compliance officers."""

from django.db import migrations

from catalog.roles import role_grant


def grant(apps, schema_editor):
    role_grant(apps, schema_editor, {"Compliance officer": ["catalog.view_pii"]})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_labels")]

    operations = [
        migrations.AlterModelOptions(
            name="column",
            options={
                "ordering": ["entity_id", "position", "id"],
                "permissions": [
                    ("change_column_pii", "Can change PII category and masking of columns"),
                    ("view_pii", "Can see personal data unmasked (quarantined rows, quality samples, requests)"),
                ],
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
