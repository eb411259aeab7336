"""Files of the repository that the pages link to (examples/), in the site as well.

A page links to an example as GitHub reads it, relative to the Markdown file:
docs/guides/problem-sets.md says `[lecture.toml](../../examples/lecture.toml)`. That file is
outside docs_dir, so MkDocs alone would neither copy it nor accept the link (--strict fails
on it). This hook adds every file of examples/ to the site under examples/ (Markdown files
left out: they would be pages of this site), and rewrites such a link to the copy
(`../examples/lecture.toml` from guides/). The page keeps the link that works on GitHub; the
site gets one that works offline, checked by --strict like any other.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from pathlib import Path
from typing import Any

SHARED = ("examples",)  # top-level folders whose files join the site under the same name
_SKIP = {"__pycache__", ".ipynb_checkpoints"}
# A Markdown link or image target: ](target) or ](target "title").
_LINK = re.compile(r"(\]\()(?P<target>[^)\s]+)(?=[)\s])")

log = logging.getLogger("mkdocs.hooks.repo_files")


def _root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def shared_files(root: Path) -> list[tuple[str, Path]]:
    """(the file's path in the site, its path on disk), Markdown and caches left out."""
    found = []
    for folder in SHARED:
        base = root / folder
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(root)
            if _SKIP & set(rel.parts) or any(part.startswith(".") for part in rel.parts) \
                    or path.suffix.lower() in (".md", ".markdown"):
                continue
            found.append((rel.as_posix(), path))
    return found


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for uri, path in shared_files(_root(config)):
        if files.get_file_from_path(uri) is None:  # docs/examples/X, if any, wins
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def site_link(target: str, page_uri: str, docs_dir: Path, root: Path) -> str | None:
    """The in-site link for a link out of docs/ into a shared folder, else None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^[#/]", target, re.IGNORECASE):
        return None  # a URL, an anchor or an absolute path: not a file of the repository
    path, _, fragment = target.partition("#")
    page_dir = (docs_dir / page_uri).parent
    resolved = Path(os.path.normpath(page_dir / path))
    try:
        resolved.relative_to(docs_dir)
        return None  # inside docs/: MkDocs's own business
    except ValueError:
        pass
    try:
        rel = resolved.relative_to(root).as_posix()
    except ValueError:
        return None
    if rel.split("/", 1)[0] not in SHARED:
        return None
    link = posixpath.relpath(rel, posixpath.dirname(page_uri) or ".")
    return f"{link}#{fragment}" if fragment else link


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs_dir = Path(config["docs_dir"]).resolve()
    root = _root(config)

    def replace(match: re.Match[str]) -> str:
        link = site_link(match["target"], page.file.src_uri, docs_dir, root)
        return match.group(0) if link is None else match.group(1) + link

    return _LINK.sub(replace, markdown)
