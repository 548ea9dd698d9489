#!/usr/bin/env bash
# Incremental editable rebuild of tracking._core for development; serialised with a lock so that
# several shells (or helpers) never build at once into the same build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
exec flock /tmp/trackpipe-build.lock pip install --no-build-isolation --no-deps -q -e . "$@"
