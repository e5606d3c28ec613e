"""Admin for schema as code: DDL previews, releases, applies and drift (see helper brief)."""
