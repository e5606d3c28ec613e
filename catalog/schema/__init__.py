"""Schema as code: the catalog as DDL per dialect, releases with up/down migrations, lint, apply, drift and
reverse-engineering. Everything here reads the catalog through snapshots (snapshot.py) so that a release
can be rendered again, byte for byte, long after the catalog moved on.

    snapshot (the JSON a release stores) -> model (typed: SchemaModel, Table, Column, Index, ForeignKey)
      -> diff (what changed, in words) -> lint (what could go wrong)
      -> metadata (SQLAlchemy tables for one dialect) -> ddl (CREATE), migrate (ALTER), drift (vs. live)

dialects.py is the one place dialects differ: flags, native types and named templates per DialectProfile.
"""
