"""Compliance officers enforce retention and answer subject requests (erasure included); stewards and
platform admins see the retention executions (which hold no personal data beyond masked samples)."""

from django.db import migrations

from catalog.roles import role_grant

GRANTS = {
    "Compliance officer": [
        "compliance.view_retentionexecution",
        "compliance.execute_retention",
        "compliance.view_retentionsweep",
        "compliance.view_subjectrequest",
        "compliance.add_subjectrequest",
        "compliance.erase_subject",
        "compliance.view_compliance_report",
    ],
    "Data steward": ["compliance.view_retentionexecution", "compliance.view_compliance_report"],
    "Platform admin": ["compliance.view_retentionexecution", "compliance.view_retentionsweep"],
}


def grant(apps, schema_editor):
    role_grant(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial"), ("catalog", "0007_column_view_pii")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
