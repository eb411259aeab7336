"""The documentation site (mkdocs.yml, docs/): it builds with --strict, loads nothing from
the network, its command-line reference names every command and option of the app, and
its live pictures are drawn by the tool.

The build tests need the docs extra (`pip install -e ".[docs]"`) and skip without it (nox's
other Pythons install only `.[test]`). They build a copy of docs/ in a temporary folder, in
which a nav page that is not written yet is a stub, and a page of live pictures is added:
nothing is written into the repository.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import REPO

HOOKS = REPO / "docs" / "hooks"
DOCS_EXTRA = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "yaml")


def _hook(name: str) -> ModuleType:
    """A module of docs/hooks/ (not a package: mkdocs loads them by path, and so do we)."""
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as mkdocs does: dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cli_reference = _hook("cli_reference")
live_pictures = _hook("live_pictures")
repo_files = _hook("repo_files")


def _missing_docs_extra() -> list[str]:
    missing = []
    for name in DOCS_EXTRA:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package of a dotted name is missing
            found = False
        if not found:
            missing.append(name)
    return missing


NEEDS_DOCS = pytest.mark.skipif(
    bool(_missing_docs_extra()),
    reason=f"the docs extra is not installed ({', '.join(_missing_docs_extra())} missing): "
    'pip install -e ".[docs]"')


# --- the command-line reference, from the click tree --------------------------------------

def _tree() -> list[tuple[tuple[str, ...], Any]]:
    return list(cli_reference.walk(cli_reference.app_command()))


def test_cli_reference_has_a_section_per_command() -> None:
    page = cli_reference.cli_markdown()
    headings = re.findall(r"^#{2,3} `([^`]+)`$", page, re.MULTILINE)
    assert headings == [" ".join(path) for path, _ in _tree()]


def test_cli_reference_covers_subcommands_of_groups() -> None:
    paths = {" ".join(path) for path, _ in _tree()}
    assert {"backprop eval", "backprop course", "backprop course gradescope"} <= paths


def test_cli_reference_names_every_visible_option_of_every_command() -> None:
    page = cli_reference.cli_markdown()
    sections = re.split(r"^#{2,3} `([^`]+)`$", page, flags=re.MULTILINE)
    by_command = dict(zip(sections[1::2], sections[2::2], strict=True))
    missing = []
    for path, cmd in _tree():
        # The first cell of each row: "-j, --jobs N", "--details / --no-details", "EXPR".
        cells = re.findall(r"<tr><td><code>([^<]*)</code>", by_command[" ".join(path)])
        shown = {word.strip(",") for cell in cells for word in cell.split()}
        for param in cli_reference.visible_params(cmd):
            names = [param.human_readable_name] if param.param_type_name == "argument" \
                else [*param.opts, *param.secondary_opts]
            missing += [f"{' '.join(path)} {name}" for name in names if name not in shown]
    assert missing == []


def test_cli_reference_leaves_out_hidden_options() -> None:
    check = dict(_tree())[("backprop", "check")]
    hidden = [p for p in check.params if getattr(p, "hidden", False)]
    assert hidden, "backprop check has a hidden option (the old --format) to leave out"
    section = cli_reference.command_markdown(
        check, ("backprop", "check"), cli_reference._context(check, ("backprop", "check")))
    assert "Deprecated spelling" not in section


def test_cli_reference_shows_defaults_in_their_column() -> None:
    page = cli_reference.cli_markdown()
    assert "<td><code>--max-rows N</code></td><td>integer, x&gt;=2</td><td><code>20</code>" \
        in page


def test_cli_reference_puts_epilog_examples_in_code_blocks() -> None:
    page = cli_reference.cli_markdown()
    assert '```bash\nbackprop eval "(x+y)*z" --at x=-2,y=5,z=-4\n```' in page


def test_cli_reference_usage_line_names_the_command_once() -> None:
    page = cli_reference.cli_markdown()
    assert "```text\nbackprop course gradescope [OPTIONS] " in page


def test_cli_reference_escapes_markup_in_help_texts() -> None:
    import typer
    import typer.main

    hostile = typer.Typer(rich_markup_mode=None)

    @hostile.command(epilog="Examples:\n\n\b\nrun ``` <b>")
    def run(x: int = typer.Option(1, help="|a| <script>alert(1)</script> *b* `<i>`")) -> None:
        """Help with <img src=x onerror=alert(1)> & | pipes |."""

    page = cli_reference.cli_markdown(typer.main.get_command(hostile))
    assert "<script>" not in page and "<img" not in page and "<i>" not in page
    assert "&lt;script&gt;" in page and "<code>&lt;i&gt;</code>" in page
    assert "````bash\nrun ``` <b>\n````" in page  # the fence outlasts the backquotes


# --- live pictures: the marker and what it draws ------------------------------------------

def test_marker_takes_the_arguments_of_the_command() -> None:
    m = live_pictures.parse_marker(
        "replay", '"(x + y) * z" --at x=-2,y=5 --at=z=-4 --expand --height 300')
    assert (m.expr, m.at, m.expand, m.height) == ("(x + y) * z", ["x=-2,y=5", "z=-4"], True, 300)


@pytest.mark.parametrize("body, message", [
    ('"(x+y)*z --at x=1', "cannot split"),
    ("x*y --frobnicate", "unknown option --frobnicate"),
    ("x*y z*w", "expected one expression"),
    ("x*y --at", "--at needs a value"),
    ("x --height 9", "--height must be"),
])
def test_marker_errors_say_what_is_wrong(body: str, message: str) -> None:
    with pytest.raises(live_pictures.MarkerError, match=re.escape(message)):
        live_pictures.parse_marker("circuit", body)


def test_circuit_marker_draws_values_and_gradients() -> None:
    m = live_pictures.parse_marker("circuit", '"(x+y)*z" --at x=-2,y=5,z=-4')
    figure = live_pictures.circuit_html(m, 0)
    assert figure.startswith('<figure class="backprop-circuit"><svg')
    numbers = {float(t) for t in re.findall(r">(-?[\d.]+)</text>", figure)}
    assert {-12.0, -4.0, 3.0} <= numbers  # f's value; dx = dy = -4; dz = 3


def test_two_circuits_on_a_page_have_their_own_arrow_ids() -> None:
    m = live_pictures.parse_marker("circuit", "x*y --at x=1,y=2")
    first, second = live_pictures.circuit_html(m, 0), live_pictures.circuit_html(m, 1)
    assert 'id="bp-arrow-0"' in first and 'id="bp-arrow-1"' in second
    assert 'id="arrow"' not in first + second


def test_circuit_caption_is_escaped() -> None:
    m = live_pictures.parse_marker("circuit", 'x*y --at x=1,y=2 --title "<b>x & y</b>"')
    figure = live_pictures.circuit_html(m, 0)
    assert "<b>" not in figure and "&lt;b&gt;x &amp; y&lt;/b&gt;" in figure


def test_marker_with_an_expression_backprop_rejects_is_an_error() -> None:
    m = live_pictures.parse_marker("circuit", '"(x+" --at x=1')
    with pytest.raises(live_pictures.MarkerError, match="backprop rejects it"):
        live_pictures.circuit_html(m, 0)


def test_markers_are_found_with_their_line() -> None:
    text = "# T\n\n```backprop-circuit\nx*y --at x=1,y=2\n```\n\ntext\n"
    (match, line), = live_pictures.find_markers(text)
    assert (match["kind"], match["body"], line) == ("circuit", "x*y --at x=1,y=2", 3)


# --- the whole site, built --------------------------------------------------------------------

PICTURES_PAGE = """# Live pictures (test page)

```backprop-circuit
"(x+y)*z" --at x=-2,y=5,z=-4
```

```backprop-replay
"(x+y)*z" --at x=-2,y=5,z=-4 --title "The lecture's first circuit"
```

See [backprop eval](reference/cli.md#backprop-eval) for its options, or
[the playground](playground/index.html), or [a problem set](../examples/lecture.toml).

## One graph or many: `--expand`

[This heading, as GitHub names it](#one-graph-or-many---expand).
"""


def _nav_pages(nav: Any) -> list[str]:
    """Every page path in mkdocs.yml's nav (a loop over a stack of nested lists/dicts)."""
    pages, stack = [], [nav]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            pages.append(item)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return pages


def build_copy(tmp: Path) -> subprocess.CompletedProcess[str]:
    """Build a copy of the site in ``tmp``: docs/ copied, every nav page that is not written
    yet a stub, and a page of live pictures."""
    import shutil

    import yaml

    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp / "docs"
    shutil.copytree(REPO / "docs", docs, ignore=shutil.ignore_patterns("hooks"))
    for page in _nav_pages(config["nav"]):
        path = docs / page
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {page}\n\nNot written yet (a stub of the test).\n",
                            encoding="utf-8")
    (docs / "test-pictures.md").write_text(PICTURES_PAGE, encoding="utf-8")
    (tmp / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    # The built playground (docs/hooks/playground.py) if there is one, else a stand-in.
    dist = tmp / "playground" / "dist"
    dist.parent.mkdir()
    if (REPO / "playground" / "dist" / "index.html").is_file():
        dist.symlink_to(REPO / "playground" / "dist", target_is_directory=True)
    else:
        (dist / "js").mkdir(parents=True)
        (dist / "index.html").write_text("<!DOCTYPE html><title>stand-in</title>\n",
                                         encoding="utf-8")
        (dist / "js" / "app.js").write_text("// stand-in\n", encoding="utf-8")
        (dist / "README.md").write_text("# not a page of the site\n", encoding="utf-8")
    config["nav"].append({"Test pictures": "test-pictures.md"})
    config["docs_dir"] = str(docs)
    config["site_dir"] = str(tmp / "site")
    config["hooks"] = [str(REPO / hook) for hook in config["hooks"]]
    python = config["plugins"][2]["mkdocstrings"]["handlers"]["python"]
    python["paths"] = [str(REPO)]
    (tmp / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    command = [sys.executable, "-m", "mkdocs", "build", "-f", str(tmp / "mkdocs.yml")]
    return subprocess.run([*command, "--strict"], capture_output=True, text=True, cwd=tmp,
                          timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _missing_docs_extra():
        pytest.skip('the docs extra is not installed: pip install -e ".[docs]"')
    tmp = tmp_path_factory.mktemp("docs-site")
    start = time.perf_counter()
    proc = build_copy(tmp)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed ({proc.returncode}):\n{proc.stderr}")
    print(f"site built in {seconds:.1f} s")  # shown with -s; the lead reads it there
    return tmp / "site"


@NEEDS_DOCS
def test_site_builds_with_strict(site: Path) -> None:
    assert (site / "index.html").is_file()


# An address that the browser would load by itself: a script, a style sheet, a font, an
# image, a frame. Links a reader clicks (<a href>) may go anywhere.
_FETCHED = re.compile(
    r"""<(?:script|img|iframe|source|audio|video|embed|input)\b[^>]*?\bsrc\s*=\s*["']?(https?:|//)"""
    r"""|<link\b[^>]*?\bhref\s*=\s*["']?(https?:|//)"""
    r"""|url\(\s*["']?(https?:|//)"""
    r"""|@import\s+["'](https?:|//)""",
    re.IGNORECASE)


def _external_loads(site: Path) -> list[str]:
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".html", ".css", ".js", ".svg"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in _FETCHED.finditer(text):
            link_rel = match.group(0)
            if link_rel.lower().startswith("<link") and re.search(
                    r"rel\s*=\s*[\"']?canonical", link_rel, re.IGNORECASE):
                continue
            found.append(f"{path.relative_to(site)}: {text[match.start():match.end() + 60]}")
    return found


@NEEDS_DOCS
def test_site_loads_nothing_from_the_network(site: Path) -> None:
    assert _external_loads(site) == []


def test_external_load_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<a href="https://github.com/x">fine</a><script src="https://cdn.example/x.js">',
        encoding="utf-8")
    (tmp_path / "b.css").write_text("@font-face{src:url(https://fonts.example/f.woff2)}",
                                    encoding="utf-8")
    found = _external_loads(tmp_path)
    assert [f.split(":")[0] for f in found] == ["a.html", "b.css"]


@NEEDS_DOCS
def test_site_has_no_google_fonts(site: Path) -> None:
    texts = (p.read_text(encoding="utf-8", errors="replace") for p in site.rglob("*.html"))
    assert not any("fonts.googleapis" in t or "fonts.gstatic" in t for t in texts)


@NEEDS_DOCS
def test_site_cli_reference_is_generated(site: Path) -> None:
    page = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    for path, _ in _tree():
        assert f'id="{cli_reference.anchor(path)}"' in page


@NEEDS_DOCS
def test_site_api_reference_comes_from_docstrings(site: Path) -> None:
    page = (site / "reference" / "api.html").read_text(encoding="utf-8")
    assert 'id="backprop_cli.evaluate"' in page
    assert "Parse, run forward and backward" in page  # evaluate's docstring


@NEEDS_DOCS
def test_site_circuit_marker_renders_inline(site: Path) -> None:
    page = (site / "test-pictures.html").read_text(encoding="utf-8")
    assert '<figure class="backprop-circuit"><svg' in page
    assert "backprop-circuit\n" not in page  # the block itself is gone


@NEEDS_DOCS
def test_site_replay_marker_writes_its_page(site: Path) -> None:
    page = (site / "test-pictures.html").read_text(encoding="utf-8")
    src, = re.findall(r'<iframe src="([^"]+)"', page)
    replay = (site / src).resolve()
    assert replay.is_file() and replay.parent.name == live_pictures.REPLAY_DIR
    assert "The lecture&#x27;s first circuit" in replay.read_text(encoding="utf-8") or \
        "The lecture's first circuit" in replay.read_text(encoding="utf-8")


def _page(src_uri: str) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri),
                           url=src_uri.replace(".md", ".html"))


@NEEDS_DOCS
def test_a_bad_marker_stops_the_build_naming_page_and_line() -> None:
    from mkdocs.exceptions import PluginError

    text = "# Bad\n\n```backprop-circuit\n\"(x+\" --at x=1\n```\n"
    with pytest.raises(PluginError, match=re.escape("docs/bad.md, line 3: backprop-circuit: "
                                                    "backprop rejects it")):
        live_pictures.on_page_markdown(text, _page("bad.md"), None, None)


@NEEDS_DOCS
def test_marker_becomes_the_picture_through_markdown() -> None:
    import markdown

    text = "# P\n\n```backprop-circuit\nx*y --at x=1,y=2\n```\n"
    page = _page("p.md")
    html = markdown.markdown(live_pictures.on_page_markdown(text, page, None, None))
    html = live_pictures.on_page_content(html, page, None, None)
    assert '<figure class="backprop-circuit"><svg' in html and "data-backprop" not in html


@NEEDS_DOCS
def test_site_pages_link_to_a_command_of_the_generated_reference(site: Path) -> None:
    # --strict validates anchors: the build passing means the link was found; here, its form.
    page = (site / "test-pictures.html").read_text(encoding="utf-8")
    assert 'href="reference/cli.html#backprop-eval"' in page


@NEEDS_DOCS
def test_a_stale_cli_reference_is_replaced_and_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import File, Files

    config = MkDocsConfig()
    config.load_dict({"site_name": "t", "docs_dir": str(tmp_path), "site_dir": str(tmp_path)})
    config.validate()
    config.plugins._current_plugin = "cli_reference"  # as mkdocs sets it around each hook
    (tmp_path / "reference").mkdir()
    (tmp_path / cli_reference.PAGE).write_text("# by hand\n", encoding="utf-8")
    files = Files([File(cli_reference.PAGE, str(tmp_path), str(tmp_path), False)])
    with caplog.at_level("WARNING"):
        files = cli_reference.on_files(files, config)
    assert "is stale" in caplog.text
    page = files.get_file_from_path(cli_reference.PAGE)
    assert page is not None and page.content_string.startswith("# Command line")


@NEEDS_DOCS
def test_site_has_the_built_playground(site: Path) -> None:
    assert (site / "playground" / "index.html").is_file()
    page = (site / "test-pictures.html").read_text(encoding="utf-8")
    assert 'href="playground/index.html"' in page  # checked by --strict: the file is there


@NEEDS_DOCS
def test_site_leaves_markdown_of_the_playground_out(site: Path) -> None:
    assert not (site / "playground" / "README.html").exists()
    assert not (site / "playground" / "README.md").exists()


@NEEDS_DOCS
def test_site_has_the_examples_a_page_links_to(site: Path) -> None:
    page = (site / "test-pictures.html").read_text(encoding="utf-8")
    assert 'href="examples/lecture.toml"' in page
    assert (site / "examples" / "lecture.toml").read_bytes() == \
        (REPO / "examples" / "lecture.toml").read_bytes()


@NEEDS_DOCS
def test_site_heading_ids_are_githubs(site: Path) -> None:
    page = (site / "test-pictures.html").read_text(encoding="utf-8")
    assert 'id="one-graph-or-many---expand"' in page


@pytest.mark.parametrize("target, page, want", [
    ("../../examples/lecture.toml", "guides/problem-sets.md", "../examples/lecture.toml"),
    ("../examples/xor.csv#L2", "index.md", "examples/xor.csv#L2"),
    ("../concepts/kinks.md", "guides/eval.md", None),  # a page: MkDocs's own
    ("../../README.md", "guides/eval.md", None),  # out of docs/, not a shared folder
    ("https://example.org/x", "index.md", None),
    ("#anchor", "index.md", None),
])
def test_links_out_of_docs_into_examples_are_rewritten(target: str, page: str,
                                                       want: str | None) -> None:
    docs = REPO / "docs"
    assert repo_files.site_link(target, page, docs, REPO) == want


def test_shared_files_leave_markdown_out() -> None:
    uris = [uri for uri, _ in repo_files.shared_files(REPO)]
    assert "examples/lecture.toml" in uris
    assert not [u for u in uris if u.endswith(".md")]


def test_the_committed_cli_reference_is_what_the_app_writes() -> None:
    # Committed so that links to it work on GitHub; written by `python docs/hooks/cli_reference.py`.
    committed = (REPO / "docs" / cli_reference.PAGE).read_text(encoding="utf-8")
    assert committed == cli_reference.cli_markdown()
