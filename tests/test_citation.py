"""The citation (CITATION.cff and the BibTeX on the methodology page) says what pyproject says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_citation_file_and_bibtex_match_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert {"message", "title", "authors"} <= set(cff) and all(
        "name" in a or "family-names" in a for a in cff["authors"]
    )
    assert cff["version"] == project["version"] and cff["license"] == project["license"]["text"]
    bibtex = re.search(r"```bibtex\n(.*?)```", (ROOT / "site" / "methodology.md").read_text(), re.S).group(1)
    assert f"version = {{{project['version']}}}" in bibtex and f"license = {{{cff['license']}}}" in bibtex
    assert cff["title"] in bibtex
