#!/usr/bin/env bash
# Create (or refresh) the trainer's virtual environment at trainer/.venv and
# install the pinned requirements into it. Idempotent: a stamp file holding the
# sha256 of requirements.txt skips the install when nothing changed.
#   bash trainer/setup_env.sh          # prints the venv's python path last
# Env: ARIANNA_TRAINER_VENV overrides the venv location, PYTHON the base python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${ARIANNA_TRAINER_VENV:-$here/.venv}"
base="${PYTHON:-python3}"
req="$here/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "setup_env: installing the trainer environment into $venv (torch from PyPI, ~1-2 min)" >&2
"$base" -m venv "$venv"
start=$(date +%s)
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
echo "setup_env: installed in $(( $(date +%s) - start )) s" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
