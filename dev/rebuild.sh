#!/usr/bin/env bash
# Incremental editable rebuild of tracking._core for development; serialised with a lock so that
# several shells (or helpers) never build at once into the same build directory.
# Installs with the repository's .venv when there is one (PYTHON=... to choose another interpreter): a bare
# `pip` from PATH may belong to another Python and leave the venv's _core untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python; fi
fi
exec flock /tmp/trackpipe-build.lock "$python" -m pip install --no-build-isolation --no-deps -q -e . "$@"
