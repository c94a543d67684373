"""Files the site links to rather than copies: images and thumbnails, thousands per site."""

from __future__ import annotations

import os

from mkdocs.structure.files import File


class LinkedFile(File):
    """A file from images/ or the thumbnail cache, hard-linked into the site where the file
    system allows it (a copy otherwise): a site holds thousands of images and a clean build
    would otherwise copy every one of them again."""

    def copy_file(self, dirty: bool = False) -> None:
        if dirty and not self.is_modified():
            return
        os.makedirs(os.path.dirname(self.abs_dest_path), exist_ok=True)
        try:
            os.link(self.abs_src_path, self.abs_dest_path)
        except OSError:  # another file system, an existing file, no link support
            super().copy_file(dirty)
