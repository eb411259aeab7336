#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
# It installs `backprop` into its own virtual environment and puts the command on PATH.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y python3 python3-venv python3-pip
python3 -m venv /opt/backprop
# The wheel zipped with the autograder (see README.md). Nothing is fetched by name from a
# package index: a package called backprop-cli there need not be this project.
shopt -s nullglob
wheels=(/autograder/source/backprop_cli-*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
    echo "setup.sh: no backprop_cli-*.whl in the autograder zip (see README.md, Upload)" >&2
    exit 1
fi
/opt/backprop/bin/pip install "${wheels[-1]}"
ln -sf /opt/backprop/bin/backprop /usr/local/bin/backprop
backprop check /autograder/source/key.toml   # the key itself must pass before any grading
