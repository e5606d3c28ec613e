#!/usr/bin/env bash
# Install Graphviz (Debian's graphviz package: the `dot` layout program the ER and lineage diagrams need)
# when `dot` is missing.
exec bash "$(dirname "$0")/apt_install.sh" graphviz "command -v dot" "the ER and lineage diagrams"
