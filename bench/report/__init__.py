"""The report site: a MkDocs plugin that turns the Parquet tables under data/ into pages.

One job per module: `config` (plugin options), `data` (read and check the tables), `stats`
(pure pandas aggregation), `render` (pure HTML string building), `charts` (matplotlib SVG),
`thumbs` (cached WebP thumbnails) and `plugin` (the MkDocs hooks that tie them together).
Nothing here imports torch: the site builds in a light environment.
"""
