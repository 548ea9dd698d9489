#!/usr/bin/env bash
# A git worktree for a parallel line of work, with a light virtual environment that reuses the main
# checkout's installed dependencies and native build (tracking._core) instead of rebuilding them.
#   dev/worktree.sh NAME   ->  ../wt-NAME on branch NAME, venv ../wt-NAME/.venv
# Rebuild the native module in the worktree only when csrc/ changes there (dev/rebuild.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
main=$(pwd)
name=$1
wt=$(dirname "$main")/wt-$name
git worktree add -q "$wt" -b "$name"
python3 -m venv "$wt/.venv"
site_main=$(echo "$main"/.venv/lib/python3.*/site-packages)
site_wt=$(echo "$wt"/.venv/lib/python3.*/site-packages)
echo "$site_main" > "$site_wt/zz_main_site.pth"
cp -r "$site_main"/trackpipe-*.dist-info "$site_main"/tracking "$site_wt/"
for f in "$site_main"/_editable_skbc_trackpipe.*; do
  sed "s#$main/tracking#$wt/tracking#g; s#$main/plugins#$wt/plugins#g; s#$main/benchmarks#$wt/benchmarks#g" "$f" > "$site_wt/$(basename "$f")"
done
cp "$main/tracking/_version.py" "$wt/tracking/_version.py"
for exe in trackpipe pytest torchrun mypy; do  # python scripts: point their shebang at this venv
  [ -e "$main/.venv/bin/$exe" ] && sed "1s#.*#\#!$wt/.venv/bin/python#" "$main/.venv/bin/$exe" > "$wt/.venv/bin/$exe" && chmod +x "$wt/.venv/bin/$exe"
done
ln -sf "$main/.venv/bin/ruff" "$wt/.venv/bin/ruff"  # a native binary
echo "$wt"
