"""The `make` command (problems, keys, worksheets): a thin typer shell over course/make.py.

Registered on the main app by cli/__init__.py (``register(app)``). Grading lives on `check`
(``--answers``), in commands.py, because a key is an ordinary problem set.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import BackpropError, InputError
from .app import fail
from .options import Command, examples, output_option, seed_option


def register(app: typer.Typer) -> None:
    app.command(
        "make",
        short_help="Generate backprop problems: an answer key and a worksheet.",
        cls=Command,
        epilog=examples(
            "backprop make --list",
            "backprop make neuron --seed 7 --count 3 -o key.toml --worksheet sheet.md "
            "--template answers.toml",
            "backprop make --level 2 --count 10 --seed 2026 -o week3.toml --worksheet week3.tex",
            ("a student's own numbers",
             "backprop make mul,fanout --seed 1 --variant s1234567 -o s1234567.toml")),
    )(make_)


def make_(
    family: Annotated[str | None, typer.Argument(
        help="A family (see --list), several joined by commas, or 'all' (the default).",
        metavar="[FAMILY]", show_default=False)] = None,
    seed: Annotated[int, seed_option("The same seed writes the same files, byte for "
                                     "byte.")] = 0,
    count: Annotated[int, typer.Option("--count", "-n", metavar="N",
                                       help="How many problems (cycling through the "
                                       "families).")] = 1,
    level: Annotated[int, typer.Option("--level", metavar="1|2|3",
                                       help="1: small integers, every answer exact and "
                                       "short; 2-3: deeper circuits, decimals, answers "
                                       "rounded to 2 decimals.")] = 1,
    output: Annotated[str | None, output_option(
        "Write the answer key here (default: print it).", metavar="KEY.toml")] = None,
    worksheet: Annotated[str | None, typer.Option(
        "--worksheet", metavar="FILE.md|FILE.tex|FILE.html|FILE.pdf",
        help="Also write a worksheet: each circuit and a blank for every answer (.html: "
        "one printable page, the circuits drawn with the blanks on the wires; .pdf: the "
        "same in TikZ, through pdflatex).",
        show_default=False)] = None,
    template: Annotated[str | None, typer.Option(
        "--template", metavar="ANSWERS.toml",
        help="Also write the students' answer file, every answer blank, to fill in.",
        show_default=False)] = None,
    variant: Annotated[str | None, typer.Option(
        "--variant", metavar="STUDENT_ID",
        help="Numbers derived from the seed and this id (trimmed, case-folded): each "
        "student their own.",
        show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="Name the families, one line each, "
                                        "and stop.")] = False,
    roster: Annotated[str | None, typer.Option(
        "--roster", metavar="ROSTER.csv",
        help="One key (and worksheet, template) per student: each row's id is its "
        "--variant; -o, --worksheet and --template hold {id}.", show_default=False)] = None,
) -> None:
    """Generate backprop problems from the lecture's families, with numbers workable by hand.

    Writes the answer key (an ordinary problem set: `backprop check KEY.toml` passes; points
    per answer) and optionally a Markdown or LaTeX worksheet. Grade a student's answers
    with `backprop check KEY.toml --answers STUDENT.toml`.
    """
    try:
        from ..core.fileio import check_outputs
        from ..course import make as mk

        if list_:
            sys.stdout.write("\n".join(mk.family_lines()) + "\n")
            raise typer.Exit(0)
        if roster is None:  # (a roster's {id} paths are checked, and their folders made, below)
            check_outputs([("-o", output), ("--worksheet", worksheet),
                           ("--template", template)])
            _make_set(family, seed, count, level, variant, output, worksheet, template)
            return
        from ..course.roster import per_student, read_roster

        for path, option in ((output, "-o"), (worksheet, "--worksheet"),
                             (template, "--template")):
            per_student(path, option)
        if output is None:
            per_student("", "-o")  # a key per student: printing them all would mix them
        if variant is not None:
            raise InputError("--variant and --roster both name the students: give one",
                             where="--variant")
        for ident in read_roster(roster):
            paths = [p.replace("{id}", ident) if p is not None else None
                     for p in (output, worksheet, template)]
            for p in paths:
                if p is not None:
                    Path(p).parent.mkdir(parents=True, exist_ok=True)
            _make_set(family, seed, count, level, ident, *paths)
    except BackpropError as exc:
        fail(exc)


def _make_set(family: str | None, seed: int, count: int, level: int, variant: str | None,
              output: str | None, worksheet: str | None, template: str | None) -> None:
    """One student's (or the class's) key, worksheet and answer template."""
    from ..course import make as mk

    made = mk.make(family, seed=seed, count=count, level=level, variant=variant)
    if variant is not None:  # the key says the id the numbers were drawn for
        variant = mk.normalise_id(variant)
    words = ["backprop", "make"] + ([family] if family else []) + [
        "--seed", str(seed), "--count", str(count), "--level", str(level)]
    if variant is not None:
        words += ["--variant", variant]
    title = f"Backprop practice, level {level}, seed {seed}" + (
        f", variant {mk.visible(variant)}" if variant is not None else "")
    key = mk.key_toml(made, command=" ".join(shlex.quote(w) for w in words), title=title)
    sheet = mk.worksheet(made, worksheet, title) if worksheet else None
    _save(output, key, "-o")
    if worksheet and sheet is not None:
        _save(worksheet, sheet, "--worksheet")
    if template:
        _save(template, mk.answers_template(made, title), "--template")


def _save(path: str | None, text: str | bytes, option: str) -> None:
    from ..core.fileio import write_atomic

    if path is None or path == "-":
        if isinstance(text, bytes):  # a PDF
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
        else:
            sys.stdout.write(text)
        return
    write_atomic(path, text, where=option)
    sys.stderr.write(f"wrote {path}\n")


def grade_command(key: str, answers: str | None, gradescope: str | None,
                  prairielearn: str | None, as_json: bool) -> None:
    """`backprop check KEY --answers STUDENT`: grade, write the platforms' files (always),
    print the table (or JSON) once, exit 0 full marks / 1 points lost / 2 unreadable."""
    from ..core.errors import ExitStatus, InputError
    from ..course.formulas import grade_formula  # formula answers (issue 13)
    from ..course.grade import grade_files

    if answers is None:
        fail(InputError("--gradescope and --prairielearn grade a submission: add "
                        "--answers STUDENT.toml", where="--answers"))
    from ..core.fileio import check_result_path, read_text
    from ..course.grade import MAX_SUBMISSION_BYTES

    try:  # before the work: an output never replaces the key or the submission
        for option, path in (("--gradescope", gradescope), ("--prairielearn", prairielearn)):
            if path is not None:
                check_result_path(path, where=option, inputs=[key, answers])
    except BackpropError as exc:
        fail(exc)

    try:
        text = read_text("-", limit=MAX_SUBMISSION_BYTES, what="the submission",
                         where="--answers") if answers == "-" else None
    except BackpropError as exc:
        fail(exc)
    try:
        report, message = grade_files(key, "<stdin>" if answers == "-" else answers,
                                      gradescope=gradescope, prairielearn=prairielearn,
                                      answers_text=text, formula=grade_formula)
    except BackpropError as exc:  # a results file that could not be written
        fail(exc)
    if report is None:
        fail(InputError(message or "the submission could not be graded", where="KEY"))
    if as_json:
        from ..core import jsonout

        sys.stdout.write(jsonout.dumps(report.to_dict()))
    else:
        from ..course.report import grade_table
        from .app import _print

        _print(grade_table(report))
    if not report.gradable:
        raise typer.Exit(int(ExitStatus.BAD_INPUT))
    full = report.score >= report.max_score
    raise typer.Exit(int(ExitStatus.OK if full else ExitStatus.CHECK_FAILED))


QUIZ_LINE_CHARS = 10_000  # one answer
QUIZ_INPUT_CHARS = 1_000_000  # the whole drill's input


def register_quiz(app: typer.Typer) -> None:
    app.command(
        "quiz",
        short_help="Practise backprop: type each value and gradient, checked at once.",
        cls=Command,
        epilog=examples(
            "backprop quiz",
            "backprop quiz neuron --level 2 --seed 7",
            ("answers piped in",
             "printf '2\\n-6\\n1\\n-3\\n2\\n-3\\n-3\\n-3\\n' | backprop quiz circuit --seed 1")),
    )(quiz_)


def quiz_(
    family: Annotated[str | None, typer.Argument(
        help="A family (see `backprop make --list`; vectors and matrices typed as "
        "[4, -2]); default: a scalar one drawn at random.",
        metavar="[FAMILY]", show_default=False)] = None,
    seed: Annotated[int | None, seed_option(
        "The same seed, the same circuit (default: a new one, its seed shown).")] = None,
    level: Annotated[int, typer.Option("--level", metavar="1|2|3",
                                       help="1: small integers and exact answers; 2-3: "
                                       "deeper, decimals, answers to 2 decimals.")] = 1,
    max_questions: Annotated[int, typer.Option(
        "--max-questions", metavar="N", min=1,
        help="At most N questions: without FAMILY, a family whose drill fits is drawn; "
        "a longer drill asks its first N.")] = 30,
    show_correct: Annotated[bool, typer.Option(
        "--show-correct/--hide-correct",
        help="Tell the correct value after a wrong answer (as a key's show_correct).")] = True,
) -> None:
    """A drill in the terminal: a circuit, then each forward value and, node by node in
    backward order, each upstream and downstream gradient, checked at once.

    Type '?' for a hint (a second '?' gives the answer), 'q' to stop; Ctrl-C or the end
    of piped input stops with the score so far. Exit codes: 0 every answer right, 1 some
    wrong (or stopped early), 2 bad input.
    """
    try:
        import secrets

        from ..course import make as mk
        from ..course import quiz, quizdraw
        from ..views.picture import to_text

        if seed is None:
            seed = secrets.randbelow(10**6)
        # Instructive draws: no layer of ReLUs all off, and (without FAMILY) a drill that
        # fits in --max-questions.
        family, made = quizdraw.draw(family, seed, level, max_questions)
        circuit = to_text(mk._symbolic(made)).plain
    except BackpropError as exc:
        fail(exc)

    from ..core.errors import InputError
    from ..core.fileio import check_stdin

    try:
        check_stdin("standard input")  # `quiz < /dev/zero` would never end
    except BackpropError as exc:
        fail(exc)
    left = [QUIZ_INPUT_CHARS]

    def read() -> str | None:
        # Bounded: one answer is a line of a few characters (a small matrix at most), and
        # the whole drill a few hundred lines; a stream without newlines (or without end)
        # stops at these bounds, not when the memory runs out.
        line = sys.stdin.readline(min(QUIZ_LINE_CHARS, left[0]) + 1)
        left[0] -= len(line)
        if len(line) > QUIZ_LINE_CHARS and not line.endswith("\n"):
            raise InputError(f"a line of standard input is longer than {QUIZ_LINE_CHARS:,} "
                             "characters: not an answer", where="standard input")
        if left[0] < 0:
            raise InputError(f"standard input is longer than {QUIZ_INPUT_CHARS:,} characters, "
                             "more than a drill reads", where="standard input")
        return None if line == "" else line

    def write(s: str) -> None:
        sys.stdout.write(s)
        sys.stdout.flush()

    write(f"backprop quiz {family} --seed {seed} --level {level}\n\n")
    try:
        score, finished = quiz.run(made, read, write, circuit, level,
                                   echo=not sys.stdin.isatty(), max_questions=max_questions,
                                   show=show_correct)
    except BackpropError as exc:
        write("\n")
        fail(exc)
    raise typer.Exit(0 if finished and score.right == score.asked else 1)
