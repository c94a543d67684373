"""The HTML of each page kind, one module each, built from frames and plain values.

`common` (the CLIP scale, the metric line, the empty state, charts), `leaderboard`, `prompts`
(the prompts table and each prompt's page with its gallery), `speed` and `methodology`. They
take the site paths the plugin gives and `root`, the relative path from the page to the site
root ("", "../" ...), so they need no MkDocs objects and the tests call them without a build.
"""
