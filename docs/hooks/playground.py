"""The playground's built files in the site: playground/dist/X -> site/playground/X.

The Pyodide playground (the top-level playground/ folder) is built by its own step into
playground/dist/, outside docs_dir. This hook adds each of those files to the site's files
under playground/, as MkDocs's own static files: MkDocs copies them, `mkdocs serve` serves
them, and a page's link to one (docs/playground.md: `[...](playground/index.html)`) is
checked by --strict like any other link. Markdown files there (a package's README.md) are
left out, since MkDocs would read them as pages of this site.

Without a built playground nothing is added and the build says so at INFO level; a page
that links into it then fails the strict build (a broken link), which is what CI should say.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

SOURCE = Path("playground") / "dist"  # relative to mkdocs.yml
TARGET = "playground"  # under site_dir

log = logging.getLogger("mkdocs.hooks.playground")


def source_dir(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent / SOURCE


def built_files(source: Path) -> list[tuple[str, Path]]:
    """(the file's path in the site, its path on disk) for each file of the built
    playground, Markdown files left out; sorted, so that builds are the same."""
    found = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source).as_posix()
        if path.suffix.lower() in (".md", ".markdown"):
            log.info("left out of the site (it would be a page): %s", path)
            continue
        found.append((f"{TARGET}/{rel}", path))
    return found


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    source = source_dir(config)
    if not source.is_dir():
        log.info("no built playground at %s: site/%s/ left out", source, TARGET)
        return files
    added = built_files(source)
    for uri, path in added:
        existing = files.get_file_from_path(uri)
        if existing is not None:  # docs/playground/X beside the built X: the built one wins
            files.remove(existing)
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    log.info("the playground's %d files from %s", len(added), source)
    return files


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    """`mkdocs serve` rebuilds when the playground is built again."""
    source = source_dir(config)
    if source.is_dir():
        server.watch(str(source))
    return server
