"""Errors that mean "the user gave us something we cannot use": each prints as one clear line
(naming the key, file or line) and ends the command with exit status 2.

This module imports nothing of the project, so every room can raise these without depending
on the room that defines the thing that was wrong.
"""
from __future__ import annotations


class UserError(Exception):
    """An error in what the user gave us (recipe, data, files): one clear line, exit 2."""


class ConfigError(ValueError):
    """A recipe or override that cannot be used; the message names the key."""


class EngineConfigError(ValueError):
    """A DeepSpeed JSON that disagrees with the run config or keeps an unfilled "auto"."""


class DataError(ValueError):
    """Bad input in a data file; the message names the file and line."""

    def __init__(self, path: str, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


class HostfileError(ValueError):
    """A hostfile that cannot be used; the message starts with ``path:line``."""

    def __init__(self, path: str, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


class UnknownTask(KeyError):
    """A task name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


USER_ERRORS = (ConfigError, EngineConfigError, DataError, FileNotFoundError, HostfileError, UnknownTask,
               UserError)


def user_error_in(err: BaseException) -> BaseException | None:
    """The user error behind ``err``, if any: libraries wrap what our readers raise (datasets
    turns a DataError into DatasetGenerationError), and the message the user needs is inside."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, USER_ERRORS):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None
