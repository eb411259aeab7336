"""The command-line reference (reference/cli.md), written from the typer app at every build.

Each command and subcommand of the click tree that typer builds (`typer.main.get_command`),
in the order of `backprop --help`: its help, its usage line, its arguments and options
(the name and value as --help shows them, the default, what it does) and the examples of
its epilog. Nothing here is written by hand, so the page cannot drift from the tool: change
a help text in backprop_cli/cli/, run this file, and commit the page (a test and the strict
build fail on a stale copy).

Help texts are the tool's own, but they are escaped all the same: they hold `<`, `|` and `*`
(`|a-b| <= atol + rtol*|b|`) that Markdown or HTML would read as markup. Prose and tables are
written as HTML (escaped once, never re-read as Markdown); headings stay Markdown so that
the table of contents and the permalinks work; examples are fenced code blocks.

Also imported by tests/test_docs_site.py (by path: docs/ is not a package).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PAGE = "reference/cli.md"
# typer ends an option's help with "  [default: 1; x>=1]" or "  [required]" (as --help shows).
_EXTRA = re.compile(r"\s*\[([^\[\]]*)\]\s*$")
_NO_WRAP = "\b"  # click's mark: the paragraph after it is printed as is (an example)


def app_command() -> Any:
    """The click command of the `backprop` app, with every command registered."""
    import typer.main

    from backprop_cli.cli import app

    return typer.main.get_command(app)


def walk(command: Any, path: tuple[str, ...] = ("backprop",)) -> Iterator[tuple[tuple[str, ...],
                                                                              Any]]:
    """(path, command) for the command and every visible subcommand, depth first, in the
    order --help lists them; a loop over a stack, not recursion."""
    stack = [(path, command)]
    while stack:
        where, cmd = stack.pop()
        yield where, cmd
        subs = [(name, sub) for name, sub in _subcommands(cmd) if not getattr(sub, "hidden", False)]
        stack.extend(((*where, name), sub) for name, sub in reversed(subs))


def _subcommands(cmd: Any) -> list[tuple[str, Any]]:
    commands = getattr(cmd, "commands", None)
    if not commands:
        return []
    lister = getattr(cmd, "list_commands", None)
    names = lister(None) if lister is not None else list(commands)
    return [(name, commands[name]) for name in names]


def visible_params(cmd: Any) -> list[Any]:
    """The arguments and options --help shows (not the hidden ones)."""
    return [p for p in cmd.params if not getattr(p, "hidden", False)]


def _context(cmd: Any, path: tuple[str, ...], parent: Any = None) -> Any:
    # The usage line reads "backprop course gradescope": each context adds its own word.
    name = " ".join(path) if parent is None else path[-1]
    return cmd.make_context(name, [], parent=parent, resilient_parsing=True)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def anchor(path: tuple[str, ...]) -> str:
    """The id the toc extension gives the heading of this command (`backprop eval`)."""
    return "-".join(path)


def _paragraphs(text: str) -> list[tuple[bool, str]]:
    """(literal?, text) for each paragraph of a click help text: the paragraphs marked \\b
    are printed as they are (examples); the others are prose, rewrapped."""
    out: list[tuple[bool, str]] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        if block.startswith(_NO_WRAP):
            out.append((True, block[len(_NO_WRAP):].strip("\n")))
        elif block.strip():
            out.append((False, " ".join(block.split())))
    return out


def _code(text: str) -> str:
    return f"<code>{_esc(text)}</code>"


def _inline(text: str) -> str:
    """Escaped prose, where a `backquoted` span (balanced) becomes code, as the help means."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # unbalanced: no code spans at all
        return _esc(text)
    return "".join(_code(p) if k % 2 else _esc(p) for k, p in enumerate(parts))


def _fence(text: str, lang: str) -> str:
    """A fenced block that no backquote run in ``text`` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _prose(text: str, lang: str = "text") -> list[str]:
    """Markdown blocks for a help or epilog text: HTML paragraphs and fenced literals."""
    blocks = []
    for literal, para in _paragraphs(text):
        if literal:
            blocks.append(_fence(para, lang))
        elif para.rstrip(":") == "Examples":
            blocks.append('<p class="backprop-cli-examples"><strong>Examples</strong></p>')
        else:
            blocks.append(f"<p>{_inline(para)}</p>")
    return blocks


def _kind(param: Any) -> str:
    """What the value is, in words: flag, integer, text; the rest the metavar says."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return "flag"
    name = getattr(param.type, "name", "")
    kinds = {"int": "integer", "int range": "integer", "float": "number",
             "float range": "number", "str": "text", "text": "text", "path": "path",
             "choice": "one of the choices", "boolean": "true/false"}
    return kinds.get(name, "")


def param_row(param: Any, ctx: Any) -> dict[str, str]:
    """One argument or option as --help shows it, split into its columns (plain text)."""
    # typer gives arguments a help record too (click alone does not).
    record = param.get_help_record(ctx) if hasattr(param, "get_help_record") else None
    names, help_text = record if record is not None else (param.human_readable_name, "")
    default, notes = "", []
    found = _EXTRA.search(help_text)
    if found:
        help_text = help_text[:found.start()]
        for item in (s.strip() for s in found.group(1).split(";")):
            if item.startswith("default:"):
                default = item[len("default:"):].strip()
            elif item:
                notes.append(item)
    if getattr(param, "multiple", False) or (param.param_type_name == "argument"
                                              and getattr(param, "nargs", 1) == -1):
        notes.append("repeatable")
    kind = _kind(param)
    return {"name": names, "kind": ", ".join([kind, *notes]) if kind else ", ".join(notes),
            "default": default, "help": " ".join(help_text.split())}


def _table(rows: list[dict[str, str]], first: str) -> str:
    head = (f"<thead><tr><th>{first}</th><th>Value</th><th>Default</th>"
            "<th>Description</th></tr></thead>")
    body = "".join(
        f"<tr><td>{_code(r['name'])}</td><td>{_esc(r['kind'])}</td>"
        f"<td>{_code(r['default']) if r['default'] else ''}</td>"
        f"<td>{_inline(r['help'])}</td></tr>" for r in rows)
    # A table without a class, so that the theme styles it; the div keeps option names on
    # one line (docs/assets/stylesheets/backprop.css).
    return f'<div class="backprop-cli-options"><table>{head}<tbody>{body}</tbody></table></div>'


def command_markdown(cmd: Any, path: tuple[str, ...], ctx: Any) -> str:
    """The section of one command: heading, help, usage, arguments, options, examples."""
    level = "##" if len(path) <= 2 else "###"  # a subcommand under its group
    blocks = [f"{level} `{' '.join(path)}`"]
    blocks += _prose(cmd.help or "")
    usage = cmd.get_usage(ctx).removeprefix("Usage: ")
    blocks.append(_fence(usage, "text"))
    params = visible_params(cmd)
    arguments = [param_row(p, ctx) for p in params if p.param_type_name == "argument"]
    options = [param_row(p, ctx) for p in params if p.param_type_name == "option"]
    if arguments:
        blocks.append(_table(arguments, "Argument"))
    if options:
        blocks.append(_table(options, "Option"))
    subs = [(n, s) for n, s in _subcommands(cmd) if not getattr(s, "hidden", False)]
    if subs:
        items = "".join(f'<li><a href="#{anchor((*path, n))}">{_code(" ".join((*path, n)))}'
                        "</a>: "
                        f"{_inline(s.get_short_help_str(limit=200))}</li>" for n, s in subs)
        blocks.append(f"<p>Commands:</p><ul>{items}</ul>")
    if cmd.epilog:
        blocks += _prose(cmd.epilog, "bash")
    return "\n\n".join(blocks)


def cli_markdown(root: Any | None = None) -> str:
    """The whole page: every command and subcommand of the app."""
    root = app_command() if root is None else root
    contexts: dict[tuple[str, ...], Any] = {}
    sections = []
    for path, cmd in walk(root):
        ctx = _context(cmd, path, contexts.get(path[:-1]))
        contexts[path] = ctx
        sections.append(command_markdown(cmd, path, ctx))
    intro = ("# Command line\n\n"
             "<p>Every command of <code>backprop</code>, its options and examples: this page is "
             "written from the program itself each time the site is built, so it says exactly "
             "what <code>backprop COMMAND --help</code> says. An expression where a command is "
             "expected is evaluated: <code>backprop \"(x+y)*z\" --at x=-2,y=5,z=-4</code> is "
             "<code>backprop eval</code>.</p>")
    return intro + "\n\n" + "\n\n".join(sections) + "\n"


# --- the mkdocs hook ----------------------------------------------------------------------

def on_files(files: Any, config: Any) -> Any:
    """Serve the page written from the app. docs/reference/cli.md is committed too (so that
    links to it work on GitHub), and must be what the app writes today: a stale copy is a
    warning that --strict turns fatal (`python docs/hooks/cli_reference.py` writes it)."""
    import logging

    from mkdocs.structure.files import File

    text = cli_markdown()
    existing = files.get_file_from_path(PAGE)
    if existing is not None:
        if existing.content_string != text:
            logging.getLogger("mkdocs.hooks.cli_reference").warning(
                "docs/%s is stale: write it again with `python docs/hooks/cli_reference.py`",
                PAGE)
        files.remove(existing)
    files.append(File.generated(config, PAGE, content=text))
    return files


def write_page(docs: Path | None = None) -> Path:
    """Write docs/reference/cli.md from the app (run after any change to a help text)."""
    path = (docs or Path(__file__).resolve().parents[1]) / PAGE
    path.write_text(cli_markdown(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_page()}")
