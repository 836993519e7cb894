#!/usr/bin/env bash
# Create (or refresh) tools/py-clients/.venv with the pinned Python API clients
# (requirements.txt next to this file; tools/pinned-venv.sh: skipped when it has
# not changed since the last install). Prints the venv's python path last.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../pinned-venv.sh" "$here/.venv" "$here/requirements.txt" py-clients "the Python openai and ollama clients"
