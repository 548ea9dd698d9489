"""Exceptions that carry context: the file, event, stage, key or branch involved.

They subclass builtins so that callers catching ``ValueError`` / ``KeyError`` / ``OSError`` still work
(the uproot ``KeyInFileError(KeyError)`` pattern).
"""

from __future__ import annotations


class TrackpipeError(Exception):
    """Base of every trackpipe error."""


class ConfigError(TrackpipeError, ValueError):
    """A pipeline, stage or training configuration is wrong; the message names stage and key."""


class PluginError(TrackpipeError, LookupError):
    """A plugin is unknown, registered twice, or malformed."""


class DataError(TrackpipeError, ValueError):
    """Input data is missing or malformed; carries the file, event and branch when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        event: int | None = None,
        tree: str | None = None,
        branch: str | None = None,
    ) -> None:
        self.file, self.event, self.tree, self.branch = file, event, tree, branch
        where = []
        if file is not None:
            where.append(f"file {file}")
        if tree is not None:
            where.append(f"tree {tree!r}")
        if branch is not None:
            where.append(f"branch {branch!r}")
        if event is not None:
            where.append(f"event {event}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
