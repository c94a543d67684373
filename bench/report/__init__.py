"""The report site: a MkDocs plugin that turns the Parquet tables under data/ into pages.

One job per module: `config` (plugin options), `data` (read and check the tables), `stats`
(pure pandas aggregation), `html` (escaping, numbers and the one sortable-table builder),
`sections` (the HTML of each page kind, one module each), `charts` (matplotlib SVG), `thumbs`
(cached WebP thumbnails), `hashcache` (image hashes kept across builds), `site_images` (the
image files checked against their run's record), `plugin` (the MkDocs hooks that tie them
together) and `synthetic` (a made-up sweep for previews and build benchmarks).
Nothing here imports torch: the site builds in a light environment.
"""
