"""Error types shared by every domain.

The CLI turns any :class:`KongtianError` into one line on stderr and exit code 2;
services turn them into 4xx responses with the same message.
"""

from __future__ import annotations


class KongtianError(Exception):
    """Base class of every error the project raises on purpose."""


class FormatError(KongtianError, ValueError):
    """Malformed input file or record; names the file and line at fault."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message)


class ConfigError(KongtianError, ValueError):
    """Bad option or parameter value; names the option."""

    def __init__(self, message: str, *, option: str | None = None):
        self.option = option
        super().__init__(f"{option}: {message}" if option else message)


class NotFound(KongtianError, LookupError):
    """A named thing (region, shell, satellite) does not exist."""
