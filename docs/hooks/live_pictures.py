"""Live pictures: circuits and replays drawn by backprop itself when the site is built.

A page asks for a picture with a fenced block whose body is the arguments of the command,
as they would be typed after `backprop graph` or `backprop replay` (parsed with shlex,
never by a shell):

    ```backprop-circuit
    "(x+y)*z" --at x=-2,y=5,z=-4
    ```

    ```backprop-replay
    "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 --expand
    ```

Options: --at (repeatable), --upstream, --expand, --check (replay), and for the page only
--title TEXT (the caption) and --height PIXELS (the replay's frame, default 560).

A circuit is the SVG of views/svg.py (pure Python, no Graphviz), inline in the page. A
replay is the self-contained page of views/replay.py, written to site/replays/ and shown in
a frame with a link to open it whole. Each block is run through the library (evaluate), so
a picture cannot disagree with the tool; a block that does not parse, an expression the
tool rejects, or a gradient that fails its check stops the build, naming the page and line.

The block is first replaced by a placeholder that Markdown passes through untouched, and
the placeholder by the picture once the page is HTML: the SVG never meets the Markdown
parser. The expression is the docs author's text, but every piece of it that reaches HTML
is escaped all the same.
"""

from __future__ import annotations

import hashlib
import html
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("circuit", "replay")
REPLAY_DIR = "replays"
DEFAULT_HEIGHT = 560
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})backprop-(?P<kind>[a-z]+)[ \t]*\n"
    r"(?P<body>.*?)\n(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL)
_PLACEHOLDER = '<div data-backprop-picture="{n}"></div>'


class MarkerError(ValueError):
    """A picture block that cannot be drawn; the message says why."""


@dataclass
class Marker:
    """One picture block, parsed."""

    kind: str
    expr: str
    at: list[str] = field(default_factory=list)
    upstream: str = "1"
    expand: bool = False
    check: str = "sympy,numeric"
    title: str | None = None
    height: int = DEFAULT_HEIGHT

    def key(self) -> str:
        """A name for the picture's file: the same block, the same name, build after build."""
        text = repr((self.kind, self.expr, self.at, self.upstream, self.expand, self.check,
                     self.title))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def caption(self) -> str:
        if self.title:
            return self.title
        point = ", ".join(self.at)
        return f"{self.expr} at {point}" if point else self.expr


_VALUED = {"--at", "--upstream", "--check", "--title", "--height"}


def parse_marker(kind: str, body: str) -> Marker:
    """The block's arguments, as `backprop graph|replay` would take them (a subset)."""
    if kind not in KINDS:
        raise MarkerError(f"unknown picture 'backprop-{kind}': use backprop-circuit or "
                          "backprop-replay")
    try:
        words = shlex.split(body, comments=False)
    except ValueError as exc:  # an unclosed quote
        raise MarkerError(f"cannot split the arguments: {exc}") from None
    marker = Marker(kind=kind, expr="")
    exprs: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name == "--expand" and not eq:
            marker.expand = True
        elif name in _VALUED:
            if eq:
                value = inline
            elif i + 1 < len(words):
                i += 1
                value = words[i]
            else:
                raise MarkerError(f"{name} needs a value")
            _set(marker, name, value)
        elif word.startswith("--"):
            raise MarkerError(f"unknown option {name} (known: --at, --upstream, --expand, "
                              "--check, --title, --height)")
        else:
            exprs.append(word)
        i += 1
    if len(exprs) != 1:
        raise MarkerError(f"expected one expression (quote it if it has spaces), got "
                          f"{len(exprs)}: {exprs}")
    marker.expr = exprs[0]
    return marker


def _set(marker: Marker, name: str, value: str) -> None:
    if name == "--at":
        marker.at.append(value)
    elif name == "--upstream":
        marker.upstream = value
    elif name == "--check":
        marker.check = value
    elif name == "--title":
        marker.title = value
    elif not value.isdigit() or not 100 <= int(value) <= 4000:
        raise MarkerError(f"--height must be a number of pixels from 100 to 4000, not {value!r}")
    else:
        marker.height = int(value)


def _evaluate(marker: Marker) -> Any:
    from backprop_cli import BackpropError, evaluate
    from backprop_cli.core.result import parse_checks

    try:  # a circuit shows, a replay proves (as `backprop graph` and `replay` do)
        check = parse_checks(marker.check, where="--check") if marker.kind == "replay" else ()
        result = evaluate(marker.expr, marker.at or {}, upstream=marker.upstream, check=check,
                          expand=marker.expand)
    except BackpropError as exc:
        raise MarkerError(f"backprop rejects it: {exc.message}") from None
    verification = result.verification
    failed = [c.variable for c in (verification.checks if verification else ())
              if c.status == "fail"]
    if failed:
        raise MarkerError(f"the gradients of {', '.join(failed)} failed their check")
    return result


def circuit_html(marker: Marker, n: int) -> str:
    """The inline SVG of the circuit, in a figure with its caption."""
    from backprop_cli.views.svg import circuit_svg

    svg = circuit_svg(_evaluate(marker), title=marker.caption())
    if svg is None:
        raise MarkerError("the circuit is too large to draw (views/svg.py's MAX_PARTS)")
    # Several circuits on one page: each its own arrow-head id.
    svg = svg.replace('id="arrow"', f'id="bp-arrow-{n}"').replace(
        "url(#arrow)", f"url(#bp-arrow-{n})")
    return (f'<figure class="backprop-circuit">{svg}'
            f"<figcaption>{html.escape(marker.caption(), quote=False)}</figcaption></figure>")


def replay_page(marker: Marker) -> str:
    """The replay's own page (views/replay.py): self-contained, nothing from the network."""
    from backprop_cli.views.replay import replay_html

    return replay_html(_evaluate(marker), title=marker.title)


def replay_embed(marker: Marker, href: str) -> str:
    """The frame that shows a replay page inside a docs page, and a link to it."""
    src = html.escape(href)
    caption = html.escape(marker.caption())
    return (f'<figure class="backprop-replay"><iframe src="{src}" title="Replay: {caption}" '
            f'loading="lazy" style="width:100%;height:{marker.height}px"></iframe>'
            f'<figcaption>{caption} · <a href="{src}">open the replay on its own page</a>'
            "</figcaption></figure>")


def find_markers(markdown: str) -> list[tuple[re.Match[str], int]]:
    """Each picture block and the line it starts on (1-based)."""
    return [(m, markdown.count("\n", 0, m.start()) + 1) for m in _FENCE.finditer(markdown)]


# --- the mkdocs hooks ----------------------------------------------------------------------

_pending: dict[str, dict[int, str]] = {}  # page -> placeholder number -> its HTML
_replays: dict[str, str] = {}  # file under site/ -> the replay page


def on_pre_build(config: Any) -> None:
    _pending.clear()
    _replays.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    from mkdocs.exceptions import PluginError
    from mkdocs.utils import get_relative_url

    found = find_markers(markdown)
    if not found:
        return markdown
    pictures: dict[int, str] = {}
    out, last = [], 0
    for n, (match, line) in enumerate(found):
        try:
            marker = parse_marker(match["kind"], match["body"])
            if marker.kind == "circuit":
                pictures[n] = circuit_html(marker, n)
            else:
                name = f"{REPLAY_DIR}/{marker.key()}.html"
                _replays[name] = replay_page(marker)
                pictures[n] = replay_embed(marker, get_relative_url(name, page.url))
        except MarkerError as exc:
            raise PluginError(f"docs/{page.file.src_uri}, line {line}: backprop-"
                              f"{match['kind']}: {exc}") from None
        out.append(markdown[last:match.start()])
        out.append(match["indent"] + _PLACEHOLDER.format(n=n))
        last = match.end()
    out.append(markdown[last:])
    _pending[page.file.src_uri] = pictures
    return "".join(out)


def on_page_content(content: str, page: Any, config: Any, files: Any) -> str:
    for n, picture in _pending.pop(page.file.src_uri, {}).items():
        placeholder = _PLACEHOLDER.format(n=n)
        if placeholder not in content:  # Markdown changed it: say so rather than lose it
            from mkdocs.exceptions import PluginError

            raise PluginError(f"docs/{page.file.src_uri}: picture {n + 1} was lost in Markdown")
        content = content.replace(placeholder, picture, 1)
    return content


def on_post_build(config: Any) -> None:
    for name, page in _replays.items():
        path = Path(config["site_dir"]) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
