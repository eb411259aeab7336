#!/usr/bin/env python3
"""Write a question's variants for server.py, and the grader's variant-args:

    python make_variants.py QUESTION_DIR [FAMILY] --seed 2026 --count 4 --level 1 -n 50

QUESTION_DIR/variants.json: each variant's problems as text, no answers (server.py reads it);
QUESTION_DIR/tests/variant-args: the `backprop make` arguments, so grade.sh can make the key
of the variant a student was given (`--variant pl-K`). Run it again after changing either.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from backprop_cli.core.errors import BackpropError
from backprop_cli.course.variants import variants


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("question", type=Path)
    ap.add_argument("family", nargs="?", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--level", type=int, default=1)
    ap.add_argument("-n", type=int, default=20, help="how many variants (default 20)")
    args = ap.parse_args(argv)
    try:
        doc = variants(args.family, seed=args.seed, count=args.count, level=args.level,
                       n=args.n)
    except BackpropError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    (args.question / "tests").mkdir(parents=True, exist_ok=True)
    (args.question / "variants.json").write_text(json.dumps(doc, indent=1) + "\n")
    (args.question / "tests" / "variant-args").write_text(doc["make_args"] + "\n")
    print(f"wrote {len(doc['variants'])} variants to {args.question / 'variants.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
