#!/usr/bin/env bash
# PrairieLearn's external-grader entrypoint: the key is the question's tests/key.toml, the
# student's answers /grade/student/answers.toml, and /grade/results/results.json must be
# written whatever happens (PrairieLearn does not create /grade/results itself).
# PL_GRADE_ROOT (default /grade) lets you run it locally; see README.md.
set -u
ROOT="${PL_GRADE_ROOT:-/grade}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"

# Exit 1 (points lost) and 2 (unreadable answers) are grades: the file is written either
# way. A submission that cannot be read at all is marked "gradable": false, which costs the
# student no attempt.
backprop check "$ROOT/tests/key.toml" --answers "$ROOT/student/answers.toml" \
    --prairielearn "$RESULTS"
status=$?

if [ ! -s "$RESULTS" ]; then
    printf '%s\n' '{"gradable": false, "score": 0.0, "message": "The grader could not run (exit status '"$status"'): please tell your teacher.", "format_errors": ["the grader could not run"], "tests": []}' > "$RESULTS"
fi
exit 0
