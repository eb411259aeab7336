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

KEY="$ROOT/tests/key.toml"
# Each student their own numbers (questions/backprop-variants): with tests/variant-args, the
# key is made here for the variant server.py gave this student (data.json's params.variant,
# pl-K), with the same `backprop make` arguments as variants.json: generation is
# deterministic, so it is the key of the numbers the student saw.
if [ -f "$ROOT/tests/variant-args" ]; then
    variant="$(python3 -c 'import json, re, sys
v = (json.load(open(sys.argv[1])).get("params") or {}).get("variant", "")
print(v if isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", v) else "")' \
        "$ROOT/data/data.json" 2>/dev/null)"
    if [ -z "$variant" ]; then
        printf '%s\n' '{"gradable": false, "score": 0.0, "message": "No variant in data.json (params.variant): the question has per-student numbers, so this submission cannot be graded. Please tell your teacher.", "format_errors": ["no variant in data.json"], "tests": []}' > "$RESULTS"
        exit 0
    fi
    KEY="$(mktemp -d)/key.toml"
    # shellcheck disable=SC2046  # the arguments are words, split on purpose
    backprop make $(cat "$ROOT/tests/variant-args") --variant "$variant" -o "$KEY" 2>/dev/null
fi

# Exit 1 (points lost) and 2 (unreadable answers) are grades: the file is written either
# way. A submission that cannot be read at all is marked "gradable": false, which costs the
# student no attempt.
backprop check "$KEY" --answers "$ROOT/student/answers.toml" \
    --prairielearn "$RESULTS"
status=$?

if [ ! -s "$RESULTS" ]; then
    printf '%s\n' '{"gradable": false, "score": 0.0, "message": "The grader could not run (exit status '"$status"'): please tell your teacher.", "format_errors": ["the grader could not run"], "tests": []}' > "$RESULTS"
fi
exit 0
