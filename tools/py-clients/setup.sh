#!/usr/bin/env bash
# Create (or refresh) tools/py-clients/.venv with the pinned Python API clients
# (requirements.txt next to this file). Idempotent: a stamp holding the sha256
# of requirements.txt skips the install when nothing changed. Prints the venv's
# python path last.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "py-clients: installing the Python openai and ollama clients into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
