"""A backprop question: PrairieLearn calls generate(data) for each new variant and
grade(data) for each submission (docs/question/server.md). Written by `backprop course
prairielearn`; the work is done by backprop_cli/course/plquestion.py, vendored with lark in
serverFilesCourse/backprop/vendor/ (both pure Python; PrairieLearn's Python has the numpy
and sympy they need).

VARIANTS: the `backprop make` arguments each variant's problems are drawn with (a fresh
problem per variant seed), or None for the fixed key.toml beside this file.
"""

import sys
from pathlib import Path

VARIANTS = 'circuit,fanout,neuron,wx-norm --seed 2026 --count 4 --level 1'


def _plquestion(data):
    vendor = Path(data["options"]["server_files_course_path"]) / "backprop" / "vendor"
    if str(vendor) not in sys.path:
        sys.path.insert(0, str(vendor))
    from backprop_cli.course import plquestion

    return plquestion


def generate(data):
    _plquestion(data).generate(data, VARIANTS, Path(data["options"]["question_path"]))


def grade(data):
    _plquestion(data).grade(data, VARIANTS, Path(data["options"]["question_path"]))
