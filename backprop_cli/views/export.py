"""Exports for write-ups: the node table and the gradient table as Markdown or LaTeX.

Same rows as the terminal tables (render.py), as text ready to paste into homework or
slides. LaTeX writes names, local gradients and sympy's derivatives with sympy's LaTeX
printer; Markdown and LaTeX both escape every piece of user-derived text.
"""

from __future__ import annotations

from typing import Any

from ..core.formatting import cut, shape_text
from ..core.graph import Graph
from ..core.ops import CONST
from ..core.result import NodeRecord, Result, Value
from .render import elided, fmt

STATUS_WORDS = {"pass": "pass", "fail": "FAIL", "kink": "subgradient", "unchecked": "unchecked"}


def _gradient_cells(result: Result) -> list[tuple[str, Value, Value, str | None, Any, Any, str]]:
    """(input, value, backprop, printed sympy derivative, sympy value, finite diff., status)."""
    if result.verification is not None:
        return [(c.variable, c.value, c.backprop, c.sympy_derivative, c.sympy_value, c.numeric,
                 c.status) for c in result.verification.checks]
    grads = result.gradients or {}
    point = result.point or {}
    return [(name, point[name], grads[name], None, None, None, "unchecked")
            for name in result.wrt]


# --- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]<>|#$~"})


def md(s: str) -> str:
    """Markdown-safe text for a table cell (no emphasis, links, HTML or cell breaks)."""
    return " ".join(s.split()).translate(_MD_SPECIAL)


def markdown(result: Result, max_rows: int = 60) -> str:
    """The node table and the gradient table as GitHub-flavoured Markdown."""
    out_name = md(result.output)
    numeric = result.value is not None
    shaped = result.shaped
    lines = [f"**Computational graph of {out_name}, forward order**", ""]
    head = ["node", "op", "expression"]
    align = ["---", "---", "---"]
    if shaped:
        head += ["shape"]
        align += ["---"]
    if numeric:
        head += ["value"]
        align += ["--:"]
    head += ["local ∂node/∂input"]
    align += ["---"]
    if numeric:
        head += [f"upstream ∂{out_name}/∂node", "downstream"]
        align += ["--:", "---"]
    head += ["gate pattern"]
    align += ["---"]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for row in elided(result.nodes, max_rows):
        if row is None:
            lines.append("| " + " | ".join(["…"] * len(head)) + " |")
            continue
        cells = [md(row.label), md(row.op), md(row.expression)]
        if shaped:
            cells.append(shape_text(row.shape))
        if numeric:
            cells.append(md(fmt(row.value)))
        cells.append("<br>".join(md(s) for s in _local_lines(row)) or "–")
        if numeric:
            up = fmt(row.upstream) if row.op != CONST.name else "–"
            if len(row.fan_out) > 1:
                up += " = " + " + ".join(f"{fmt(g)} (from {to})" for to, g in row.fan_out)
            cells.append(md(up))
            cells.append("<br>".join(md(s) for s in _down_lines(row)) or "–")
        gate = row.gate + (f"; not differentiable here: {row.kink}" if row.kink else "")
        cells.append(md(gate))
        lines.append("| " + " | ".join(cells) + " |")
    if len(result.nodes) > max_rows:
        hidden = len(result.nodes) - max_rows
        lines += ["", f"*{hidden:,} rows hidden at …: raise --max-rows, or use --json for "
                  "every row*"]
    lines += ["", f"**Gradients of {out_name}**", ""]
    if not numeric:
        lines += ["| input | sympy ∂f/∂input |".replace("f", out_name, 1), "|---|---|"]
        for name in result.wrt:
            lines.append(f"| {md(name)} | {md(result.symbolic.get(name, '–'))} |")
    else:
        shape_head = " shape |" if shaped else ""
        lines += [f"| input |{shape_head} value | backprop ∂{out_name}/∂input | "
                  "sympy derivative | sympy value | finite diff. | check |",
                  "|---|" + ("---|" if shaped else "") + "--:|--:|---|--:|--:|---|"]
        for name, value, bp, deriv, sv, nv, status in _gradient_cells(result):
            cells = [md(name)]
            if shaped:
                cells.append(shape_text(result.shapes.get(name)))  # type: ignore[attr-defined]
            cells += [md(fmt(value)), md(fmt(bp)), md(deriv or "–"), md(fmt(sv)), md(fmt(nv)),
                      STATUS_WORDS[status]]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", md(_summary(result))]
    return "\n".join(lines) + "\n"


def _local_lines(row: NodeRecord) -> list[str]:
    if not row.inputs:
        return []
    if row.local is not None:
        parts = [f"∂/∂{n} = {fmt(v)}" for n, v in zip(row.inputs, row.local)]
    elif row.local_symbolic is not None:
        parts = [f"∂/∂{n} = {s}" for n, s in zip(row.inputs, row.local_symbolic)]
    else:
        return []
    return [p for p, const in zip(parts, row.input_is_const) if not const]


def _down_lines(row: NodeRecord) -> list[str]:
    if not row.inputs or row.downstream is None:
        return []
    return [f"→ {n}: {fmt(g)}" for n, g, const in
            zip(row.inputs, row.downstream, row.input_is_const) if not const]


def _summary(result: Result) -> str:
    s = f"{result.output} = {fmt(result.value)}"
    v = result.verification
    if v is None:
        return s + "; gradients not checked"
    failed = [c.variable for c in v.checks if c.status == "fail"]
    if failed:
        return s + f"; {len(failed)} of {len(v.checks)} gradients FAILED: " + ", ".join(failed)
    if not v.complete:  # never "verified" for what no check proved
        done = sum(c.proof not in ("budget", "none") for c in v.checks)
        return s + f"; {done} of {len(v.checks)} gradients verified, the rest not checked"
    return s + f"; all {len(v.checks)} gradients verified"


# --- LaTeX ----------------------------------------------------------------------------------

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}", "²": r"\textsuperscript{2}",
                "σ": r"$\sigma$", "√": r"$\surd$", "·": r"$\cdot$", "∂": r"$\partial$",
                "→": r"$\to$", "≥": r"$\geq$", "–": "--", "…": r"\ldots{}",
                # array rules: upstream @ xᵀ, s ⊙ (upstream - Σ upstream ⊙ s), 2×2
                "ᵀ": r"$^{\top}$", "⊙": r"$\odot$", "Σ": r"$\Sigma$", "×": r"$\times$"}


def tex(s: str) -> str:
    """LaTeX-safe text (text mode) for user-derived or free text."""
    return "".join(_TEX_SPECIAL.get(ch, ch) if ch.isprintable() else "?"
                   for ch in " ".join(s.split()))


def tex_num(v: float | None) -> str:
    """A number for math mode: 1e-05 becomes 1 \\cdot 10^{-5}."""
    s = fmt(v)
    if s == "–":
        return "\\text{--}"
    if "e" in s:
        mant, exp = s.split("e")
        return f"{mant} \\cdot 10^{{{int(exp)}}}"
    return s


TEX_SHOWN = 4  # entries of a vector (rows, columns of a matrix) before \ldots


def tex_shape(shape: list[int] | None) -> str:
    return "\\times ".join(str(n) for n in shape) if shape else "\\text{scalar}"


def _tex_cut(items: list[Any], dots: str) -> list[Any]:
    return cut(items, TEX_SHOWN, head=TEX_SHOWN - 1, mark=dots)


def tex_value(v: Any) -> str:
    """A number, or an array for math mode: a vector as a bracketed row, a matrix as a
    bmatrix (amsmath); past four entries abbreviated with \\ldots and \\vdots."""
    if not isinstance(v, list):
        return tex_num(v)

    def row(r: list[Any], sep: str) -> str:
        return sep.join(c if isinstance(c, str) else tex_num(c)
                        for c in _tex_cut(r, "\\ldots"))

    if v and isinstance(v[0], list):
        width = len(_tex_cut(v[0], "\\ldots"))
        rows = [" & ".join(["\\vdots"] * width) if r == "\\vdots" else row(r, " & ")
                for r in _tex_cut(v, "\\vdots")]
        return "\\begin{bmatrix}" + " \\\\ ".join(rows) + "\\end{bmatrix}"
    return "\\left[" + row(v, ",\\ ") + "\\right]"


def latex(result: Result, max_rows: int = 60) -> str:
    """The node table and the gradient table as two LaTeX tabulars (no extra packages)."""
    from ..checks import symbolic
    from ..checks.verify import _sympy_unaffordable

    graph = result.graph
    numeric = result.value is not None
    shaped = result.shaped
    # Array jobs: sympy's derivatives are per entry and already printed by the checks; local
    # gradients are entrywise arrays or a vector-Jacobian product in words.
    affordable = not shaped and _sympy_unaffordable(graph) is None
    import sympy as sp

    def work() -> tuple[dict[int, str], list[list[str] | None], dict[str, str]]:
        names = {n.id: _tex_name(sp, graph, n.id) for n in graph.nodes}
        # Unnamed nodes are sympy symbols called #id: print them as \#id.
        unnamed = {symbolic.symbol(graph.label(n.id)): names[n.id] for n in graph.nodes
                   if n.name is None and n.op is not CONST}
        locs: list[list[str] | None] = [None] * len(graph.nodes)
        derivs: dict[str, str] = {}
        if affordable:
            for node in graph.nodes:
                if node.inputs:
                    locs[node.id] = [_latex(d, unnamed)
                                     for d in symbolic.local_symbolic(graph, node.id)]
            f = symbolic.output_expr(graph)
            for name in result.wrt:
                derivs[name] = _latex(f.diff(symbolic.symbol(name)), {})
        return names, locs, derivs

    names, locs, derivs = symbolic.run_deep(work)
    out = _tex_var(sp, result.output)
    d_out = f"\\partial {out}"
    lines = [f"% backprop: {tex(result.output)} = {tex(fmt(result.value)) if numeric else '…'}",
             "% needs \\usepackage{amsmath} (sympy writes functions with \\operatorname)",
             "\\begin{tabular}{l l l" + (" l" if shaped else "") + (" r" if numeric else "") +
             " l" + (" r l" if numeric else "") + " l}", "\\hline"]
    head = ["node", "op", "expression"] + (["shape"] if shaped else []) + \
        (["value"] if numeric else []) + \
        ["local $\\partial\\,\\mathrm{node}/\\partial\\,\\mathrm{input}$"]
    if numeric:
        head += [f"upstream ${d_out}/\\partial\\,\\mathrm{{node}}$", "downstream"]
    head += ["gate pattern"]
    lines += [" & ".join(head) + " \\\\", "\\hline"]
    for row in elided(result.nodes, max_rows):
        if row is None:
            lines.append(" & ".join(["\\ldots"] * len(head)) + " \\\\")
            continue
        me = names[row.id]
        cells = [f"${me}$", tex(row.op), f"\\texttt{{{tex(row.expression)}}}"]
        if shaped:
            cells.append(f"${tex_shape(row.shape)}$")
        if numeric:
            cells.append(f"${tex_value(row.value)}$")
        node = graph.nodes[row.id]
        parts = []
        for pos, j in enumerate(node.inputs):
            if row.input_is_const[pos]:
                continue
            frac = f"\\frac{{\\partial {me}}}{{\\partial {names[j]}}}"
            local = row.local[pos] if row.local is not None else None
            if isinstance(local, str):  # an array op: the vector-Jacobian product in words
                parts.append(f"${frac}$: {tex(local)}")
                continue
            sym = locs[row.id][pos] if locs[row.id] is not None else None  # type: ignore[index]
            value = tex_value(local) if row.local is not None else None
            if sym is not None and value is not None and sym != value:
                parts.append(f"${frac} = {sym} = {value}$")
            else:
                parts.append(f"${frac} = {value if value is not None else sym}$")
        cells.append(_stack(parts))
        if numeric:
            cells.append("--" if row.op == CONST.name else f"${tex_value(row.upstream)}$")
            downs = [f"$\\to {names[j]}: {tex_value(g)}$" for j, g, c in
                     zip(node.inputs, row.downstream or [], row.input_is_const) if not c]
            cells.append(_stack(downs))
        cells.append(tex(row.gate))
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\hline", "\\end{tabular}", ""]
    if numeric:
        shapes: dict[str, list[int]] = getattr(result, "shapes", {})
        lines += ["\\begin{tabular}{l" + (" l" if shaped else "") + " r r l r r l}", "\\hline",
                  "input & " + ("shape & " if shaped else "") +
                  f"value & backprop ${d_out}/\\partial\\,\\mathrm{{input}}$ & "
                  "sympy derivative & sympy value & finite diff. & check \\\\", "\\hline"]
        for name, at, bp, printed, sv, nv, status in _gradient_cells(result):
            shown = f"${derivs[name]}$" if name in derivs else tex(printed or "–")
            shape = f"${tex_shape(shapes.get(name))}$ & " if shaped else ""
            lines.append(f"${_tex_var(sp, name)}$ & {shape}${tex_value(at)}$ & "
                         f"${tex_value(bp)}$ & {shown} & ${tex_value(sv)}$ & "
                         f"${tex_value(nv)}$ & {STATUS_WORDS[status]} \\\\")
    else:
        lines += ["\\begin{tabular}{l l}", "\\hline",
                  f"input & sympy ${d_out}/\\partial\\,\\mathrm{{input}}$ \\\\", "\\hline"]
        for name in result.wrt:
            shown = f"${derivs[name]}$" if name in derivs else "--"
            lines.append(f"${_tex_var(sp, name)}$ & {shown} \\\\")
    lines += ["\\hline", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _latex(expr: Any, symbol_names: dict[Any, str]) -> str:
    """sympy's LaTeX, except Heaviside: sympy writes it \\theta, which reads as a variable."""
    from sympy.printing.latex import LatexPrinter

    class Printer(LatexPrinter):  # type: ignore[misc]
        def _print_Heaviside(self, e: Any, exp: Any = None) -> str:  # noqa: N802
            args = ", ".join(self._print(a) for a in e.args)
            out = f"H\\left({args}\\right)"
            return f"{out}^{{{exp}}}" if exp else out

    return str(Printer({"symbol_names": symbol_names}).doprint(expr))


def _stack(parts: list[str]) -> str:
    """Several lines in one cell, without extra packages."""
    if not parts:
        return "--"
    if len(parts) == 1:
        return parts[0]
    return "\\begin{tabular}[t]{@{}l@{}}" + " \\\\ ".join(parts) + "\\end{tabular}"


def _tex_var(sp: Any, name: str) -> str:
    from ..checks.symbolic import symbol

    return str(sp.latex(symbol(name)))


def _tex_name(sp: Any, graph: Graph, nid: int) -> str:
    node = graph.nodes[nid]
    if node.op is CONST:
        return tex_num(node.const)
    if node.name is not None:
        return _tex_var(sp, node.name)
    return f"\\#{nid}"

