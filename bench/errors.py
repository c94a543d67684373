"""The expected failures of `bench`, under one root, so the CLI can tell them from bugs.

Each class says what went wrong in words a user can act on; the CLI prints the message on one
line and maps the class to an exit code (bench.cli.EXIT_CODES). Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class BenchError(Exception):
    """An expected failure: the message is what the user reads."""


class ConfigError(BenchError, ValueError):
    """A suite or command-line value that is not allowed; the message names field and choices."""


class InstallError(BenchError):
    """A library a command needs is missing, or installed in a way that cannot work (both
    onnxruntime builds at once). Found before anything loads."""


class DeviceUnavailable(BenchError):
    """The device or execution provider asked for cannot run on this machine."""


class StorageError(BenchError, OSError):
    """A file or folder that cannot be written or read: a full disk, a read-only folder,
    `--data-dir` naming a file, an image missing from images/. Still an OSError, so code that
    handles those keeps working."""


class WeightsError(BenchError):
    """Weights that cannot be had, or cannot be trusted (a pickle whose hash is not pinned)."""


class NotCached(WeightsError, FileNotFoundError):
    """A hub file that is not in the local cache and cannot be downloaded now."""


class PromptsNotFetched(WeightsError):
    """A prompt set that is fetched like weights, not shipped (HPS v2's benchmark prompts), and is
    not on this machine yet; the message names the set and the command that fetches it."""

    def __init__(self, message: str, name: str):
        self.name = name
        super().__init__(message)

    def __reduce__(self):
        return type(self), (str(self), self.name)


class WeightsChanged(WeightsError):
    """Weights that differ from the weights lock (another commit, a file whose hash changed); the
    message names item, file, locked and found values, and how to accept them."""


class WeightsMissing(WeightsError):
    """Some models' or metrics' weights cannot be reached; the message lists them and how to get them."""

    def __init__(self, problems: list[str], how_to_get: str):
        self.problems, self.how_to_get = problems, how_to_get
        super().__init__("weights not reachable for:\n  " + "\n  ".join(problems) + "\n" + how_to_get)

    def __reduce__(self):
        # Pickled with its own arguments: a Ray worker's preflight sends it to the driver.
        return type(self), (self.problems, self.how_to_get)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
