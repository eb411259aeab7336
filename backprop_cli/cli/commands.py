"""The `eval`, `check`, `graph` and `steps` commands: parse options, call, print once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..core.errors import BackpropError, ExitStatus
from .app import (
    _number,
    _print,
    _read_expression,
    _split,
    _table_format,
    _write,
    app,
    fail,
    progress,
)


@app.command(
    "eval",
    short_help="Run EXPR forward and backward; check every gradient.",
    context_settings={"ignore_unknown_options": True},
    epilog='Examples:\n\n'
    '  backprop eval "(x+y)*z" --at x=-2,y=5,z=-4\n\n'
    '  backprop eval "q = x + y; f = q * z" --at x=-2,y=5,z=-4 --json\n\n'
    '  backprop eval "sum((W@x)^2)" --at "W=[[0.1,0.5],[-0.3,0.8]]" --at "x=[0.2,0.4]"\n\n'
    '  backprop eval "relu(x)" --at "x=[1,-2,3,-1]" --upstream "[4,-1,5,9]" --jacobian\n\n'
    '  backprop eval "-x^2" --at x=3          (a leading minus works as is)\n\n'
    '  backprop eval "(x+y)*z" --at x=-2,y=5,z=-4 --expect dx=-4,dy=-4,dz=3   (your answers)\n\n'
    '  echo "sigmoid(w0*x0 + w1*x1 + w2)" | backprop eval - --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3',
)
def eval_(
    expr: Annotated[str, typer.Argument(
        help="The expression, e.g. '(x+y)*z' or 'q = x + y; f = q * z'; '-' reads stdin.",
        metavar="EXPR", show_default=False)],
    at: Annotated[list[str] | None, typer.Option(
        "--at", metavar="X=V,...", help="Input values: x=-2,y=5,z=-4 (repeatable). "
        "Without it, the "
        "graph is shown with symbolic local gradients and sympy's derivatives.",
        show_default=False)] = None,
    wrt: Annotated[list[str] | None, typer.Option(
        "--wrt", metavar="NAMES", help="Only these inputs' gradients are shown and checked: "
        "x,y.",
        show_default=False)] = None,
    upstream: Annotated[str, typer.Option(
        "--upstream", metavar="G", help="Seed of the backward pass: the gradient of some "
        "loss with "
        "respect to the output. Every gradient scales by it.")] = "1",
    check: Annotated[str, typer.Option(
        "--check", metavar="WHICH", help="Verifiers: sympy, numeric (central finite "
        "differences), both "
        "(sympy,numeric) or none.")] = "sympy,numeric",
    rtol: Annotated[str, typer.Option("--rtol", metavar="R",
                                      help="Relative tolerance against sympy: "
                                      "|a-b| <= atol + rtol*|b|.")] = "1e-7",
    atol: Annotated[str, typer.Option("--atol", metavar="A",
                                      help="Absolute tolerance against sympy.")]
    = "1e-9",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (see README) "
                                          "instead of tables.")] = False,
    max_rows: Annotated[int, typer.Option("--max-rows", min=2, metavar="N",
                                          help="Abbreviate tables "
                                          "longer than this (--json has every row).")] = 60,
    symbolic: Annotated[bool, typer.Option("--symbolic", help="Also show each local gradient "
                                           "as a formula (with --at).")] = False,
    expect: Annotated[list[str] | None, typer.Option(
        "--expect", metavar="KEY=V,...",
        help="Your answers, to be checked: value=-12,dx=-4 (gradient of an input), "
        "q=3 (forward value of an intermediate), dq=-4 (its upstream gradient). Exit 1 if any "
        "differs.", show_default=False)] = None,
    digits: Annotated[str, typer.Option(
        "--digits", metavar="N|auto|exact",
        help="How your --expect answers are rounded: N decimals, 'auto' (as "
        "written: 0.20 means 2 decimals, -4 means exact) or 'exact'.")] = "auto",
    jacobian: Annotated[bool, typer.Option("--jacobian", help="Also show each small node's "
                                           "explicit local Jacobian (backprop never forms "
                                           "it).")] = False,
    expand: Annotated[bool, typer.Option("--expand", help="Show compound gates (sigmoid, "
                                         "tanh, softmax, ...) as primitive gates.")]
    = False,
    out_format: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                            help="table (default), markdown or "
                                            "latex: the node and gradient tables, ready to "
                                            "paste.")] = "table",
    budget: Annotated[str, typer.Option(
        "--budget", metavar="SECONDS", help="Wall-clock budget for the whole check, default "
        "3 (sympy is stopped there; what it did not prove says 'not checked (budget)').",
        show_default=False)] = "",
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
        verifiers = () if check.strip() == "none" else tuple(_split([check]) or ())
        tol = Tolerance(rtol=_number(rtol, "--rtol", positive=True),
                        atol=_number(atol, "--atol", positive=True))
        out_format = _table_format(out_format, as_json)
        # An array upstream ([4,-1,5,9]) is parsed by evaluate, with the output's shape.
        seed = upstream if "[" in upstream else _number(upstream, "--upstream")
        result = evaluate(source, at, wrt=_split(wrt), upstream=seed, check=verifiers,
                          tolerance=tol, symbolic_locals=symbolic or None, jacobian=jacobian,
                          expand=expand,
                          budget=_number(budget, "--budget", positive=True) if budget else None,
                          explain=explain)
        answers = None
        from ..checks.answers import AnswerTolerance, match_answers

        rounding = AnswerTolerance.from_option(digits)  # checked even without --expect
        if expect:
            answers = match_answers(result, expect, rounding)
    except BackpropError as exc:
        fail(exc)
    if out_format != "table":
        from ..views import export

        write = export.markdown if out_format == "markdown" else export.latex
        sys.stdout.write(write(result, max_rows=max_rows))
    elif as_json:
        import json

        doc = result.to_dict()
        if answers is not None:
            doc["answers"] = answers.to_dict()
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
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
    short_help="Check the answers of a problem set (TOML or JSON Lines).",
    epilog="Examples:\n\n"
    "  backprop check examples/lecture.toml\n\n"
    "  backprop check answers.jsonl --junit report.xml\n\n"
    "  cat problems.toml | backprop check - --json",
)
def check_(
    file: Annotated[str, typer.Argument(
        help="A problem set: TOML (one table per problem) or JSON Lines; '-' reads stdin.",
        metavar="FILE", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (see README) "
                                          "instead of the report.")] = False,
    junit: Annotated[str | None, typer.Option(
        "--junit", metavar="FILE", help="Also write JUnit XML to this file, for CI.",
        show_default=False)]
    = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, metavar="N",
                                      help="Worker processes; pays "
                                      "for large sets (see README).")] = 1,
    check: Annotated[str, typer.Option(
        "--check", metavar="WHICH",
        help="Verifiers of the tool's own gradients for problems that do not set "
        "their own: sympy, numeric, both or none.")] = "sympy,numeric",
    digits: Annotated[str, typer.Option(
        "--digits", metavar="N|auto|exact",
        help="How answers are rounded, for problems that do not say: N decimals, "
        "'auto' (as written) or 'exact'.")] = "auto",
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT",
                                     help="toml, jsonl, or auto (by file "
                                     "extension, else by content).")] = "auto",
    details: Annotated[bool, typer.Option("--details/--no-details", help="After the table, "
                                          "show the chain rule behind each wrong gradient.")]
    = True,
) -> None:
    """Check every problem of a problem set: answers against the tool, gradients against sympy.

    Prints a report table (problem, status, what differed) and a summary line. Exit codes:
    0 all passed, 1 an answer or check differed, 2 a malformed file or problem (reported
    as an error row; the other problems still run, and 2 wins over 1).
    """
    try:
        from ..course.batch import run_problems
        from ..course.problems import load_problems

        text = sys.stdin.read() if file == "-" else None
        pset = load_problems("<stdin>" if file == "-" else file, text, fmt)
        verifiers = () if check.strip() == "none" else tuple(_split([check]) or ())
        shown = 0 if as_json or len(pset.items) < 5 else len(pset.items)  # no bar: 0
        with progress("checking", shown) as tick:
            report = run_problems(pset, check=verifiers, digits=digits, jobs=jobs,
                                  progress=tick)
        if junit:
            from ..course.batch import write_junit

            try:
                write_junit(report, junit)
            except OSError as exc:
                from ..core.errors import InputError

                raise InputError(f"cannot write {junit}: {exc.strerror or exc}",
                                 where="--junit") from None
    except BackpropError as exc:
        fail(exc)
    if as_json:
        import json

        sys.stdout.write(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        from ..course.report import batch_details, batch_summary, batch_table

        _print(batch_table(report))
        if details and report.failed:
            _print(batch_details(report))
        _print(batch_summary(report))
    raise typer.Exit(int(report.exit_status))


@app.command(
    "graph",
    short_help="Draw the circuit of EXPR, values and gradients on the wires.",
    context_settings={"ignore_unknown_options": True},
    epilog="Examples:\n\n"
    '  backprop graph "(x+y)*z" --at x=-2,y=5,z=-4 -o circuit.svg\n\n'
    '  backprop graph "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
    "--expand -o neuron.png\n\n"
    '  backprop graph "q = x + y; f = q * z" --at x=-2,y=5,z=-4 --format mermaid',
)
def graph_(
    expr: Annotated[str, typer.Argument(
        help="The expression; '-' reads stdin.", metavar="EXPR", show_default=False)],
    at: Annotated[list[str] | None, typer.Option(
        "--at", metavar="X=V,...",
        help="Input values: x=-2,y=5,z=-4 (repeatable). Without it, the circuit is "
        "drawn without numbers.", show_default=False)] = None,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", metavar="FILE",
        help="Write the picture to this file; its suffix (.dot .gv .mmd "
        ".svg .png .txt) sets the format.", show_default=False)] = None,
    pic_format: Annotated[str | None, typer.Option(
        "--format", metavar="FORMAT",
        help="dot, mermaid, svg, png (svg and png need Graphviz) or text "
        "(a tree in the terminal; the default without -o).", show_default=False)] = None,
    upstream: Annotated[str, typer.Option(
        "--upstream", metavar="G",
        help="Seed of the backward pass (gradient arriving at the output); "
        "an array such as [4,-1,5,9] for a vector or matrix output.")]
    = "1",
    expand: Annotated[bool, typer.Option("--expand", help="Draw compound gates (sigmoid, "
                                         "tanh, softmax, ...) as primitive gates.")]
    = False,
) -> None:
    """Draw the circuit of EXPR: gates, and on every wire its value (green) and gradient (red).

    Drawn left to right like the lecture's circuits. DOT and Mermaid need no extra software;
    SVG and PNG are laid out by Graphviz (`dot`).
    """
    try:
        from ..checks.evaluate import evaluate
        from ..views import picture

        source = _read_expression(expr)
        fmt = picture.format_for(output, pic_format)
        if fmt == "png" and output is None:
            from ..core.errors import InputError

            raise InputError("--format png needs a file: add -o FILE.png", where="-o")
        seed = upstream if "[" in upstream else _number(upstream, "--upstream")  # [4,-1,5,9]
        result = evaluate(source, at, upstream=seed, check=(),
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
                data = picture.render_graphviz(data, fmt)
        _write(output, data)
    except BackpropError as exc:
        fail(exc)


@app.command(
    "steps",
    short_help="Replay the backward pass of EXPR one gate at a time.",
    context_settings={"ignore_unknown_options": True},
    epilog="Examples:\n\n"
    '  backprop steps "(x+y)*z" --at x=-2,y=5,z=-4\n\n'
    '  backprop steps "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
    "--expand --forward",
)
def steps_(
    expr: Annotated[str, typer.Argument(
        help="The expression; '-' reads stdin.", metavar="EXPR", show_default=False)],
    at: Annotated[list[str] | None, typer.Option(
        "--at", metavar="X=V,...",
        help="Input values: x=-2,y=5,z=-4 (repeatable; needed for every input).",
        show_default=False)] = None,
    forward: Annotated[bool, typer.Option("--forward", help="Replay the forward pass first.")]
    = False,
    upstream: Annotated[str, typer.Option(
        "--upstream", metavar="G",
        help="Seed of the backward pass (gradient arriving at the output); "
        "an array such as [4,-1,5,9] for a vector or matrix output.")]
    = "1",
    expand: Annotated[bool, typer.Option("--expand", help="Replay compound gates (sigmoid, "
                                         "tanh, softmax, ...) as primitive gates.")]
    = False,
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
        seed = upstream if "[" in upstream else _number(upstream, "--upstream")  # [4,-1,5,9]
        result = evaluate(source, at or {}, upstream=seed, check=(),
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
