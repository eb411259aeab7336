#!/usr/bin/env bash
# PrairieLearn's external-grader entrypoint (info.json's "entrypoint"), for the stock image
# prairielearn/grader-python: its Python has numpy and sympy, and backprop and lark come
# vendored beside this script (vendor/, written by `backprop course prairielearn`). The key
# is the question's tests/key.toml (or the variant's, made from tests/variant-settings), the
# answers /grade/student/, and /grade/results/results.json is written whatever happens.
# PL_GRADE_ROOT (default /grade) and BACKPROP_PYTHON (default python3) run it elsewhere.
set -u
ROOT="${PL_GRADE_ROOT:-/grade}"
HERE="$(cd "$(dirname "$0")" && pwd)"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"

PYTHONPATH="$HERE/vendor${PYTHONPATH:+:$PYTHONPATH}" "${BACKPROP_PYTHON:-python3}" \
    -m backprop_cli.course.autograde prairielearn --root "$ROOT"
status=$?

if [ ! -s "$RESULTS" ]; then
    printf '%s\n' '{"gradable": false, "score": 0.0, "message": "The grader could not run (exit status '"$status"'): please tell your teacher.", "format_errors": ["the grader could not run"], "tests": []}' > "$RESULTS"
fi
exit 0
