#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04:
# python3 is 3.10, which backprop supports). Written by `backprop course gradescope`.
# It installs backprop from the wheel in this zip into its own virtual environment, then
# checks the key (every answer proved) and the variant settings (they make keys), so a
# broken assignment fails here, where the teacher sees it, not at a student's submission.
#
# Outside Gradescope (tests, a dry run): AUTOGRADER_ROOT (default /autograder),
# BACKPROP_VENV (default /opt/backprop), BACKPROP_PYTHON (default python3),
# BACKPROP_SKIP_APT=1 (no apt-get), BACKPROP_PIP_ARGS (e.g. --no-index --find-links DIR).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${BACKPROP_VENV:-/opt/backprop}"
PYTHON="${BACKPROP_PYTHON:-python3}"

if [ -z "${BACKPROP_SKIP_APT:-}" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3 python3-venv python3-pip
fi

# Nothing is fetched by name from a package index: a package called backprop-cli there need
# not be this project. Its dependencies (lark, sympy, numpy, ...) come from the index.
shopt -s nullglob
wheels=("$ROOT"/source/backprop_cli-*.whl)
if [ ${#wheels[@]} -ne 1 ]; then
    echo "setup.sh: expected one backprop_cli-*.whl in the autograder zip, found ${#wheels[@]}" >&2
    exit 1
fi
"$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086  # BACKPROP_PIP_ARGS holds several words on purpose
"$VENV/bin/python" -m pip install -q ${BACKPROP_PIP_ARGS:-} "${wheels[0]}"
if [ "$(id -u)" = 0 ] && [ -d /usr/local/bin ] && [ -z "${BACKPROP_SKIP_APT:-}" ]; then
    ln -sf "$VENV/bin/backprop" /usr/local/bin/backprop
fi

"$VENV/bin/backprop" check "$ROOT/source/key.toml" > /dev/null   # the key must pass
"$VENV/bin/python" -m backprop_cli.course.autograde check --root "$ROOT"
