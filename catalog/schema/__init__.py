"""Schema as code: the catalog as DDL per dialect, releases with up/down migrations, lint, apply, drift and
reverse-engineering. Everything here reads the catalog through snapshots (snapshot.py) so that a release
can be rendered again, byte for byte, long after the catalog moved on."""
