"""Page and file names for keys from the data (prompt ids, model names): one rule for all of them.

A key is untrusted text, so a name is the key itself only when it is a short, lowercase slug,
and otherwise "p-" and a hash of it. The rule keeps names injective: a key shaped like a hashed
name, and "index" (which would replace its folder's index page), are hashed too, so no plain key
can take another key's name. Lowercase only, so that a case-insensitive file system (macOS,
Windows) cannot merge two names either. Two keys whose hashes agree in 48 bits would still share
a name: `pages` fails the build then, naming both, rather than let one page replace the other.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from mkdocs.exceptions import PluginError

_PLAIN = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")
_HASHED = re.compile(r"p-[0-9a-f]{12}")
_RESERVED = {"index"}


def slug(key: str) -> str:
    """The name of `key`'s page (and its JSON files): letters, digits, "-" and "_", at most 80."""
    if _PLAIN.fullmatch(key) and not _HASHED.fullmatch(key) and key not in _RESERVED:
        return key
    return "p-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def pages(keys: Iterable[str], what: str) -> dict[str, str]:
    """key -> its name, for every key; a PluginError naming both keys when two share a name."""
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for key in keys:
        name = slug(key)
        if name in owner:
            raise PluginError(
                f"bench-report: the {what}s {owner[name]!r} and {key!r} would share the page name {name!r}; "
                f"rename one of them"
            )
        owner[name] = key
        out[key] = name
    return out
