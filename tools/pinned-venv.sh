#!/usr/bin/env bash
# Create (or refresh) a Python virtual environment holding pinned requirements,
# the one way this repository makes one (trainer/setup_env.sh, tools/py-clients/setup.sh):
#   bash tools/pinned-venv.sh VENV REQUIREMENTS LABEL WHAT [NEED_MIB]
# Idempotent: a stamp in VENV holding the sha256 of REQUIREMENTS skips the
# install when nothing changed. Progress goes to stderr as "LABEL: ..." naming
# WHAT is installed; the venv's python path is printed last, on stdout.
# NEED_MIB: the space the installed environment takes; an install is refused
# with a clear line, before it starts, where the disk has less free (pip's own
# "No space left on device" comes minutes in, half installed).
# Env: PYTHON, the base python (default python3).
set -euo pipefail
venv="$1" req="$2" label="$3" what="$4" need_mib="${5:-0}"
want="$(sha256sum "$req" | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
free_mib=$(df -Pm "$(dirname "$venv")" | awk 'NR == 2 { print $4 }')
if (( free_mib < need_mib )); then
  echo "$label: $what needs ${need_mib} MiB free under $(dirname "$venv"); the disk has ${free_mib} MiB. Free some space and run again." >&2
  exit 1
fi
echo "$label: installing $what into $venv" >&2
"${PYTHON:-python3}" -m venv "$venv"
start=$(date +%s)
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
echo "$label: installed in $(( $(date +%s) - start )) s" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
