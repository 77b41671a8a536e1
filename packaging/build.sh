#!/bin/sh
# Build the one-folder app into dist/mqttdesk/ (run from anywhere; uses the repository's .venv).
set -eu
cd "$(dirname "$0")/.."
.venv/bin/pip install -q -e '.[package]'
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/mqttdesk.spec
echo "built dist/mqttdesk/mqttdesk; try it: python3 packaging/smoke.py"
