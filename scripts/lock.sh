#!/usr/bin/env bash
# Regenerate the lock files (see docs/supply-chain.md), each pin with its sha256 hashes for
# `pip install --require-hashes`: requirements/test.lock, every dependency of the [test] extra (which
# includes [train] and [smollm2]); requirements/audit.lock, pip-audit for CI's dependency audit.
# Run it after changing a pin in pyproject.toml, in a venv with pip-tools==7.6.2; it resolves through
# pip's own configuration (index, find-links), so run it where torch==2.13.0's CPU wheel is found.
set -euo pipefail
cd "$(dirname "$0")/.."
out=requirements/test.lock
pip-compile --quiet --extra test --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links --output-file "$out" pyproject.toml
# The [test] extra names rlaudit itself (rlaudit[train,smollm2]): a local path has no hash, and CI
# installs the project separately (pip install --no-deps -e .), so its line goes.
sed -i '/^rlaudit @ /,/^    # via rlaudit (pyproject.toml)$/d; /^# WARNING: pip install will require/d; /^# Consider using a hashable URL/d' "$out"

pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --output-file requirements/audit.lock requirements/audit.in
