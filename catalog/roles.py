"""The three roles (groups) and the permissions each holds.

Apps add their own permissions to these roles from their own data migrations with `role_grant`.
"""

from django.contrib.auth.management import create_permissions

__all__ = ["DATA_STEWARD", "COMPLIANCE_OFFICER", "PLATFORM_ADMIN", "ROLES", "role_grant"]

DATA_STEWARD = "Data steward"
COMPLIANCE_OFFICER = "Compliance officer"
PLATFORM_ADMIN = "Platform admin"
ROLES = (DATA_STEWARD, COMPLIANCE_OFFICER, PLATFORM_ADMIN)


def role_grant(apps, schema_editor, grants: dict[str, list[str]]) -> None:
    """Give each role (created if missing) the permissions named "app_label.codename".

    For data migrations: permissions are normally created after migrations run, so they are created here
    first, for every app, from the historical models.
    """
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in grants.items():
        group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.using(schema_editor.connection.alias).get(
                content_type__app_label=app_label, codename=codename
            )
            group.permissions.add(permission)
