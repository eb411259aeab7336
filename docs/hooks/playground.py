"""The playground's built files into the site: playground/dist/ -> site/playground/.

The Pyodide playground (the top-level playground/ folder) is built by its own step; what it
builds lands in playground/dist/, outside docs_dir, so that MkDocs neither reads its files
as pages nor checks their links. After the site is built this hook copies that folder as it
is to site/playground/, where docs/playground.md links to it (playground/index.html,
relative to the page). Without a built playground nothing is copied and the build says so
at INFO level: the rest of the site does not need it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

SOURCE = Path("playground") / "dist"  # relative to mkdocs.yml
TARGET = "playground"  # under site_dir

log = logging.getLogger("mkdocs.hooks.playground")


def source_dir(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent / SOURCE


def on_post_build(config: Any) -> None:
    source = source_dir(config)
    if not source.is_dir():
        log.info("no built playground at %s: site/%s/ left out", source, TARGET)
        return
    target = Path(config["site_dir"]) / TARGET
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    log.info("copied the playground: %s -> %s", source, target)
