#!/usr/bin/env bash
# Gradescope image setup: install the course (autograder + helper package) and its dependencies.
set -euo pipefail
cd /autograder/source
apt-get update -y && apt-get install -y --no-install-recommends python3 python3-pip python3-venv util-linux
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install -e .
