"""Where data lives: data stores and the business domains that group entities."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.choices import DatabaseEngine
from catalog.models.base import VersionedModel
from catalog.validators import DESCRIPTION_MAX_LENGTH, text_limit, validate_env_var_name, validate_identifier
from core.databases import own_database_problem, store_aliases

__all__ = ["DataStore", "Domain"]

ENGINES_WITHOUT_SCHEMAS = {DatabaseEngine.SQLITE}


class DataStore(VersionedModel):
    """A database the catalog describes. Its connection comes from settings or the environment, never a
    password stored here."""

    name = models.CharField(
        max_length=63,
        unique=True,
        validators=[validate_identifier],
        help_text=_("Short name, e.g. 'warehouse'."),
    )
    engine = models.CharField(
        max_length=20, choices=DatabaseEngine.choices, default=DatabaseEngine.POSTGRESQL
    )
    schema_name = models.CharField(
        _("schema"),
        max_length=63,
        blank=True,
        validators=[validate_identifier],
        help_text=_("Database schema the entities live in (PostgreSQL, SQL Server, MySQL database)."),
    )
    connection_alias = models.CharField(
        max_length=100, blank=True, help_text=_("A Django DATABASES alias to connect through.")
    )
    url_env = models.CharField(
        _("URL environment variable"),
        max_length=100,
        blank=True,
        validators=[validate_env_var_name],
        help_text=_("Name of the environment variable that holds the connection URL, read at use time."),
    )
    read_role = models.CharField(
        _("read-only role"),
        max_length=63,
        blank=True,
        validators=[validate_identifier],
        help_text=_(
            "A PostgreSQL role Custodian switches to (SET ROLE) before running user-written SQL: custom "
            "quality rules and SQL sources. Grant it only USAGE on the schema and SELECT on its tables, and "
            "make the connecting user a member of it."
        ),
    )
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[text_limit(DESCRIPTION_MAX_LENGTH)]
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("data store")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        # A connection comes from exactly one place, so nobody wonders which one wins
        if self.connection_alias and self.url_env:
            raise ValidationError(
                {"url_env": _("Give either a DATABASES alias or a URL environment variable, not both.")}
            )
        # An alias must name a configured database; the message offers only those a data store may use
        if self.connection_alias and self.connection_alias not in settings.DATABASES:
            usable = store_aliases()
            if usable:
                hint = _("The databases a data store may use: %(usable)s.") % {"usable": ", ".join(usable)}
            else:
                hint = _(
                    "No database other than Custodian's own is configured: give a URL environment variable "
                    "instead."
                )
            unknown = _("There is no database called '%(alias)s'.") % {"alias": self.connection_alias}
            raise ValidationError({"connection_alias": f"{unknown} {hint}"})
        # A data store is somebody else's database: never Custodian's own, whose sessions, users and
        # history a query over it would expose
        if self.connection_alias or self.url_env:
            problem = own_database_problem(
                store_name=self.name, connection_alias=self.connection_alias, url_env=self.url_env
            )
            if problem:
                field = "connection_alias" if self.connection_alias else "url_env"
                raise ValidationError({field: problem})
        # A read-only role is a PostgreSQL feature
        if self.read_role and self.engine != DatabaseEngine.POSTGRESQL:
            raise ValidationError({"read_role": _("Only PostgreSQL data stores can switch to a role.")})
        # SQLite has no schemas
        if self.schema_name and self.engine in ENGINES_WITHOUT_SCHEMAS:
            raise ValidationError({"schema_name": _("SQLite has no schemas; leave this empty.")})


class Domain(VersionedModel):
    """A business area (Sales, Finance) that groups entities and has an accountable owner."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[text_limit(DESCRIPTION_MAX_LENGTH)]
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
