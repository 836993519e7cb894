#!/usr/bin/env bash
# Create (or refresh) the trainer's virtual environment at trainer/.venv and
# install the pinned requirements into it (tools/pinned-venv.sh: skipped when
# requirements.txt has not changed since the last install).
#   bash trainer/setup_env.sh          # prints the venv's python path last
# Env: ARIANNA_TRAINER_VENV overrides the venv location, PYTHON the base python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../tools/pinned-venv.sh" "${ARIANNA_TRAINER_VENV:-$here/.venv}" "$here/requirements.txt" \
  setup_env "the trainer environment (torch from PyPI, ~1-2 min)" 6000
