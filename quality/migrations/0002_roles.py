"""Stewards manage rules (custom SQL is its own permission) and run checks; officers and admins read them."""

from django.db import migrations

from catalog.roles import role_grant

READ = [
    "quality.view_rule",
    "quality.view_checkrun",
    "quality.view_ruleresult",
    "quality.view_incident",
    "quality.view_qualityschedule",
    "quality.view_qualityalerting",
]
GRANTS = {
    "Data steward": READ
    + [
        "quality.add_rule",
        "quality.change_rule",
        "quality.delete_rule",
        "quality.run_quality",
        "quality.add_qualityschedule",
        "quality.change_qualityschedule",
        "quality.delete_qualityschedule",
        "quality.add_qualityalerting",
        "quality.change_qualityalerting",
    ],
    "Compliance officer": READ,
    # Custom SQL rules (quality.write_custom_sql) are granted to individuals, not to a role.
    "Platform admin": READ + ["quality.run_quality"],
}


def grant(apps, schema_editor):
    role_grant(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("quality", "0001_initial"), ("catalog", "0007_column_view_pii")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
