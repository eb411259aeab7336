#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
# It installs `backprop` into its own virtual environment and puts the command on PATH.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y python3 python3-venv python3-pip
python3 -m venv /opt/backprop
# A wheel zipped with the autograder (see README.md) wins; else the project from source.
shopt -s nullglob
wheels=(/autograder/source/backprop_cli-*.whl)
if [ ${#wheels[@]} -gt 0 ]; then
    /opt/backprop/bin/pip install "${wheels[-1]}"
else
    /opt/backprop/bin/pip install "${BACKPROP_SOURCE:-backprop-cli}"
fi
ln -sf /opt/backprop/bin/backprop /usr/local/bin/backprop
backprop check /autograder/source/key.toml   # the key itself must pass before any grading
