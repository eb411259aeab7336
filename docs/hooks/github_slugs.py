"""Heading ids as GitHub makes them, so that one link works on GitHub and on the site.

The pages are read in two places: on GitHub (docs/*.md, rendered there) and in the built
site. Python-Markdown's default ids differ from GitHub's where a heading has punctuation:
"One graph or many: `--expand`" is `#one-graph-or-many-expand` here and
`#one-graph-or-many---expand` there. pymdownx's slugify with case="lower" is GitHub's rule
(drop punctuation, keep each space as a hyphen), so an anchor written for GitHub is the
anchor of the site, and --strict checks it.

Set here rather than in mkdocs.yml: a `!!python/object/apply` tag there would make the file
unreadable to a plain YAML reader (tests/test_docs_site.py reads it).
"""

from __future__ import annotations

from typing import Any

from mkdocs.plugins import event_priority


@event_priority(100)  # before the plugins (mkdocstrings) read the Markdown settings
def on_config(config: Any) -> Any:
    from pymdownx.slugs import slugify

    config.mdx_configs.setdefault("toc", {})["slugify"] = slugify(case="lower")
    return config
