"""The `eval`, `check`, `graph` and `steps` commands: parse options, call, print once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..core.errors import BackpropError, ExitStatus
from .app import (
    _print,
    _read_expression,
    _split,
    _table_format,
    _write,
    app,
    fail,
    progress,
)
from .options import (
    MAX_ROWS,
    At,
    Atol,
    Budget,
    Checks,
    Command,
    Expand,
    Expr,
    InputFormat,
    Json,
    MaxRows,
    OldInputFormat,
    Rtol,
    Upstream,
    Width,
    at_option,
    examples,
    expr_argument,
    output_option,
)


@app.command(
    "eval",
    cls=Command,
    short_help="Run EXPR forward and backward; check every gradient.",
    context_settings={"ignore_unknown_options": True},
    epilog=examples(
        'backprop eval "(x+y)*z" --at x=-2,y=5,z=-4',
        'backprop eval "q = x + y; f = q * z" --at x=-2,y=5,z=-4 --json',
        'backprop eval "sum((W@x)^2)" --at "W=[[0.1,0.5],[-0.3,0.8]]" --at "x=[0.2,0.4]"',
        'backprop eval "relu(x)" --at "x=[1,-2,3,-1]" --upstream "[4,-1,5,9]" --jacobian',
        ("a leading minus works as is", 'backprop eval "-x^2" --at x=3'),
        ("your answers, checked",
         'backprop eval "(x+y)*z" --at x=-2,y=5,z=-4 --expect dx=-4,dy=-4,dz=3'),
        ("a formula answer",
         'backprop eval "sin(x^2)" --at x=1 --expect "dx = 2*x*cos(x^2)"'),
        'echo "sigmoid(w0*x0 + w1*x1 + w2)" | backprop eval - --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3'),
)
def eval_(
    expr: Annotated[str, expr_argument(
        "The expression, e.g. '(x+y)*z' or 'q = x + y; f = q * z'; '-' reads stdin.")],
    at: Annotated[list[str] | None, at_option(
        "Input values: x=-2,y=5,z=-4 (repeatable). Without it, the graph is shown with "
        "symbolic local gradients and sympy's derivatives.")] = None,
    wrt: Annotated[list[str] | None, typer.Option(
        "--wrt", metavar="NAMES", help="Only these inputs' gradients are shown and checked: "
        "x,y.",
        show_default=False)] = None,
    upstream: Upstream = "1",
    check: Checks = "sympy,numeric",
    rtol: Rtol = 1e-7,
    atol: Atol = 1e-9,
    as_json: Json = False,
    max_rows: MaxRows = MAX_ROWS,
    symbolic: Annotated[bool, typer.Option("--symbolic", help="Also show each local gradient "
                                           "as a formula (with --at).")] = False,
    expect: Annotated[list[str] | None, typer.Option(
        "--expect", metavar="KEY=V,...",
        help="Your answers, to be checked: value=-12,dx=-4 (gradient of an input), "
        "q=3 (forward value of an intermediate), dq=-4 (its upstream gradient), or a formula: "
        "'dx = 2*x' (checked at the point and in general). Exit 1 if any differs.",
        show_default=False)] = None,
    shape: Annotated[list[str] | None, typer.Option(
        "--shape", metavar="NAME=DIMS", help="For formula answers: an array's dimensions, "
        "numbers or letters (W=m,n; repeatable); default: the sizes at --at.",
        show_default=False)] = None,
    digits: Annotated[str, typer.Option(
        "--digits", metavar="N|auto|exact",
        help="How your --expect answers are rounded: N decimals, 'auto' (as "
        "written: 0.20 means 2 decimals, -4 means exact) or 'exact'.")] = "auto",
    jacobian: Annotated[bool, typer.Option("--jacobian", help="Also show each small node's "
                                           "explicit local Jacobian (backprop never forms "
                                           "it).")] = False,
    expand: Expand = False,
    out_format: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                            help="table (default), markdown or "
                                            "latex: the node and gradient tables, ready to "
                                            "paste.")] = "table",
    width: Width = None,

    budget: Budget = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 unless every gradient was "
                                         "checked by something.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Show the finite differences' "
                                          "step sweep (1e-2..1e-9) for the gradients.")]
    = False,
) -> None:
    """Build the graph of EXPR, run forward and backward, and check every gradient.

    Prints the node table (value, local gradients, upstream and downstream gradients, gate
    pattern) and the gradient table (backprop vs sympy vs finite differences), each row
    saying which check proved it. Exit codes: 0 no check failed, 1 a check failed (or,
    with --strict, a gradient was not checked), 2 bad input.
    """
    try:
        from ..checks.evaluate import evaluate
        from ..core.result import Tolerance

        source = _read_expression(expr)
        tol = Tolerance(rtol=rtol, atol=atol)
        out_format = _table_format(out_format, as_json)
        result = evaluate(source, at, wrt=_split(wrt), upstream=upstream, check=check,
                          tolerance=tol, symbolic_locals=symbolic or None, jacobian=jacobian,
                          expand=expand,
                          budget=budget,
                          explain=explain)
        answers = None
        from ..checks.answers import AnswerTolerance, match_answers

        rounding = AnswerTolerance.from_option(digits)  # checked even without --expect
        if expect:
            answers = match_answers(result, expect, rounding, shapes=shape)
    except BackpropError as exc:
        fail(exc)
    if out_format != "table":
        from ..views import export

        write = export.markdown if out_format == "markdown" else export.latex
        sys.stdout.write(write(result, max_rows=max_rows))
    elif as_json:
        from ..core import jsonout

        doc = result.to_dict()
        if answers is not None:
            doc["answers"] = answers.to_dict()
        sys.stdout.write(jsonout.dumps(doc))
    else:
        from ..views.render import report

        _print(report(result, max_rows=max_rows))
        if explain:
            from ..views.explain import sweep_tables

            _print(sweep_tables(result))
        if answers is not None:
            from ..course.report import answers_table

            _print(answers_table(answers))
    ok = result.ok and (answers is None or answers.ok)
    if strict and (result.verification is None or not result.verification.complete):
        ok = False
    raise typer.Exit(int(ExitStatus.OK if ok else ExitStatus.CHECK_FAILED))


@app.command(
    "check",
    cls=Command,
    short_help="Check the answers of a problem set (TOML or JSON Lines).",
    epilog=examples(
        "backprop check examples/lecture.toml",
        "backprop check answers.jsonl --junit report.xml",
        "cat problems.toml | backprop check - --json",
        "backprop check key.toml --answers student.toml --gradescope results.json"),
)
def check_(
    file: Annotated[str, typer.Argument(
        help="A problem set: TOML (one table per problem) or JSON Lines; '-' reads stdin.",
        metavar="FILE", show_default=False)],
    as_json: Json = False,
    junit: Annotated[str | None, typer.Option(
        "--junit", metavar="FILE", help="Also write JUnit XML to this file, for CI.",
        show_default=False)]
    = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, metavar="N",
                                      help="Worker processes; pays "
                                      "for large sets (see docs/guides/problem-sets.md).")] = 1,
    check: Checks = "sympy,numeric",
    digits: Annotated[str, typer.Option(
        "--digits", metavar="N|auto|exact",
        help="How answers are rounded, for problems that do not say: N decimals, "
        "'auto' (as written) or 'exact'.")] = "auto",
    fmt: InputFormat = "auto",
    old_fmt: OldInputFormat = None,
    details: Annotated[bool, typer.Option("--details/--no-details", help="After the table, "
                                          "show the chain rule behind each wrong gradient.")]
    = True,
    answers: Annotated[str | None, typer.Option(
        "--answers", metavar="STUDENT.toml", help="Grade a student's answers (one table per "
        "problem: [neuron] dw0 = -0.20) against FILE, the key: points, partial credit, error "
        "carried forward.", show_default=False)] = None,
    gradescope: Annotated[str | None, typer.Option(
        "--gradescope", metavar="results.json", help="With --answers: write Gradescope's "
        "autograder results here (always, even for a broken submission).",
        show_default=False)] = None,
    prairielearn: Annotated[str | None, typer.Option(
        "--prairielearn", metavar="results.json", help="With --answers: write PrairieLearn's "
        "external-grader results here (always).", show_default=False)] = None,
    budget: Budget = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 unless every gradient of "
                                         "every problem was checked by something.")] = False,
    width: Width = None,
) -> None:
    """Check every problem of a problem set: answers against the tool, gradients against sympy.

    Prints a report table (problem, status, what differed) and a summary line. Exit codes:
    0 all passed, 1 an answer or check differed (or, with --strict, a gradient was not
    checked), 2 a malformed file or problem (reported as an error row; the other problems
    still run, and 2 wins over 1). With --answers, FILE
    is the key and the student's file is graded: exit 0 full marks, 1 points lost, 2 the key
    or the submission could not be read (the results files are written all the same).
    """
    if answers is not None or gradescope is not None or prairielearn is not None:
        from .course import grade_command  # grading: `check KEY --answers STUDENT`

        grade_command(file, answers, gradescope, prairielearn, as_json)
    try:
        from ..core.fileio import check_output, read_text
        from ..core.limits import PROBLEM_SET_BYTES
        from ..course.batch import run_problems
        from ..course.problems import Problem, load_problems

        if junit:  # before the work: an unwritable path, or the input itself, is refused
            check_output(junit, where="--junit", inputs=[file])
        text = read_text("-", limit=PROBLEM_SET_BYTES, what="a problem set",
                         where="FILE") if file == "-" else None
        pset = load_problems("<stdin>" if file == "-" else file, text, old_fmt or fmt)
        if budget is not None:  # for every problem that does not set its own `budget`
            for problem in pset.items:
                if isinstance(problem, Problem) and problem.budget is None:
                    problem.budget = budget
        shown = 0 if as_json or len(pset.items) < 5 else len(pset.items)  # no bar: 0
        with progress("checking", shown) as tick:
            report = run_problems(pset, check=check, digits=digits, jobs=jobs,
                                  progress=tick)
        if junit and not report.interrupted:  # a partial run leaves the old report be
            from ..course.batch import write_junit

            write_junit(report, junit)
    except BackpropError as exc:
        fail(exc)
    if as_json:
        from ..core import jsonout

        sys.stdout.write(jsonout.dumps(report.to_dict()))
    else:
        from ..course.report import batch_details, batch_summary, batch_table

        _print(batch_table(report))
        if details and report.failed:
            _print(batch_details(report))
        _print(batch_summary(report))
    status = report.exit_status
    if strict and report.unchecked and status == ExitStatus.OK:
        status = ExitStatus.CHECK_FAILED
    raise typer.Exit(int(status))


@app.command(
    "graph",
    cls=Command,
    short_help="Draw the circuit of EXPR, values and gradients on the wires.",
    context_settings={"ignore_unknown_options": True},
    epilog=examples(
        'backprop graph "(x+y)*z" --at x=-2,y=5,z=-4 -o circuit.svg',
        'backprop graph "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
        "--expand -o neuron.png",
        'backprop graph "q = x + y; f = q * z" --at x=-2,y=5,z=-4 --format mermaid',
        ("the replay page of `backprop replay`",
         'backprop graph "(x+y)*z" --at x=-2,y=5,z=-4 -o circuit.html')),
)
def graph_(
    expr: Expr,
    at: Annotated[list[str] | None, at_option(
        "Input values: x=-2,y=5,z=-4 (repeatable). Without it, the circuit is drawn "
        "without numbers.")] = None,
    output: Annotated[str | None, output_option(
        "Write the picture to this file; its suffix (.dot .gv .mmd .svg .png .txt .html) "
        "sets the format.")] = None,
    pic_format: Annotated[str | None, typer.Option(
        "--format", metavar="FORMAT",
        help="dot, mermaid, svg, png (svg and png need Graphviz), text (a tree in the "
        "terminal; the default without -o) or html (the replay page of `backprop replay`, "
        "every gradient checked).", show_default=False)] = None,
    upstream: Upstream = "1",
    expand: Expand = False,
    width: Width = None,
) -> None:
    """Draw the circuit of EXPR: gates, and on every wire its value (green) and gradient (red).

    Drawn left to right like the lecture's circuits. DOT and Mermaid need no extra software;
    SVG and PNG are laid out by Graphviz (`dot`). HTML is the self-contained page of
    `backprop replay`, which steps through the forward and backward pass.
    """
    try:
        from ..checks.evaluate import evaluate
        from ..views import picture

        source = _read_expression(expr)
        fmt = picture.format_for(output, pic_format)
        if output is not None and output != "-":
            from ..core.fileio import check_output

            check_output(output, where="-o", inputs=[expr])
        if fmt == "png" and output is None:
            from ..core.errors import InputError

            raise InputError("--format png needs a file: add -o FILE.png", where="-o")
        if fmt == "html":  # the replay page says what was proved: checked as replay checks
            from ..views.replay import replay_html

            result = evaluate(source, at or {}, upstream=upstream, expand=expand)
            _write(output, replay_html(result))
            raise typer.Exit(int(ExitStatus.OK))
        result = evaluate(source, at, upstream=upstream, check=(),
                          expand=expand)
        data: str | bytes
        if fmt == "text":
            if output is None:
                _print(picture.to_text(result))
                raise typer.Exit(int(ExitStatus.OK))
            data = picture.to_text(result).plain + "\n"
        elif fmt == "mermaid":
            data = picture.to_mermaid(result)
        else:
            data = picture.to_dot(result)
            if fmt in ("svg", "png"):
                data = picture.render_graphviz(data, fmt, nodes=len(result.graph.nodes))
        _write(output, data)
    except BackpropError as exc:
        fail(exc)


@app.command(
    "steps",
    cls=Command,
    short_help="Replay the backward pass of EXPR one gate at a time.",
    context_settings={"ignore_unknown_options": True},
    epilog=examples(
        'backprop steps "(x+y)*z" --at x=-2,y=5,z=-4',
        'backprop steps "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
        "--expand --forward"),
)
def steps_(
    expr: Expr,
    at: At = None,
    forward: Annotated[bool, typer.Option("--forward", help="Replay the forward pass first.")]
    = False,
    upstream: Upstream = "1",
    expand: Expand = False,
    width: Width = None,
) -> None:
    """Replay the backward pass of EXPR one gate at a time, in the lecture's words.

    For each gate, from the output back to the inputs: the upstream gradient arriving, the
    local gradient(s), their product flowing downstream, and where an input fans out, its
    branches being added.
    """
    try:
        from ..checks.evaluate import evaluate
        from ..views import steps
        source = _read_expression(expr)
        # No --at: an empty point, so a missing value is reported by name (constants need none).
        result = evaluate(source, at or {}, upstream=upstream, check=(),
                          expand=expand)
        back = steps.backward_steps(result)
        fwd = steps.forward_steps(result) if forward else None
    except BackpropError as exc:
        fail(exc)
    shown = steps.render(result, back, fwd)
    if isinstance(shown, str):
        sys.stdout.write(shown)
    else:
        _print(shown)
