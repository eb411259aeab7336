"""PrairieLearn's server.py for per-student numbers (docs/question/server.md: generate(data)
sets data["params"] for the variant; data["variant_seed"] is PrairieLearn's, per variant).

Runs in PrairieLearn's own Python, where backprop is not installed: it only reads
variants.json (written by make_variants.py with `backprop make --variant pl-K`; problem
statements, no answers). The grader, in the grading image, makes variant pl-K's key again
from tests/variant-args and data["params"]["variant"] (see serverFilesCourse/backprop/grade.sh).
"""

import json
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _variants():
    return json.loads((HERE / "variants.json").read_text(encoding="utf-8"))["variants"]


def pick(variant_seed, count):
    """The variant for PrairieLearn's seed: the same seed, the same variant, always."""
    if isinstance(variant_seed, bool) or not isinstance(variant_seed, int):
        variant_seed = zlib.crc32(str(variant_seed).encode("utf-8"))
    return variant_seed % count


def generate(data):
    variants = _variants()
    chosen = variants[pick(data.get("variant_seed", 0), len(variants))]
    params = data.setdefault("params", {})
    params["variant"] = chosen["id"]
    params["problems"] = chosen["problems"]
    params["template"] = chosen["template"]
    return data
