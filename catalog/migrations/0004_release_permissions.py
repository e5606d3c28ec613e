"""Stewards publish releases; platform admins apply them; everyone in a role can read them."""

from django.db import migrations

from catalog.roles import role_grant

GRANTS = {
    "Data steward": ["catalog.add_schemarelease", "catalog.view_schemarelease", "catalog.view_schemaapply"],
    "Compliance officer": ["catalog.view_schemarelease", "catalog.view_schemaapply"],
    "Platform admin": [
        "catalog.view_schemarelease",
        "catalog.apply_schemarelease",
        "catalog.add_schemaapply",
        "catalog.view_schemaapply",
    ],
}


def grant(apps, schema_editor):
    role_grant(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_schema_releases")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
