"""QuickFIX's files on disk: its FileStore, and its message and event logs.

QuickFIX writes every message it sends to the FileStore (to resend it on request) and,
with a ``log_path``, to the message log: the Logon among them, with its Password (554) and
any other logon field in the clear. The connector therefore creates these directories
readable by its user alone (mode 0700), takes group and other access away from the
session's files in them, and warns when a directory it did not create lets other users in
while the Logon carries credentials. (QuickFIX recreates its files when it resets sequence
numbers, with the process's umask: only a private directory keeps them private for good.)
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .settings import QuickFixSettings

__all__ = ["StorageError", "private_directories", "private_files"]

log = logging.getLogger("stockfish.fix")

#: The settings that name a directory QuickFIX writes sent messages to.
_DIRECTORY_SETTINGS = ("FileStorePath", "FileLogPath")


class StorageError(OSError):
    """A store or log directory that cannot be created."""


def private_directories(settings: QuickFixSettings, *, credentials: bool, name: str,
                        warn: bool = True) -> list[Path]:
    """The store and log directories of ``settings``, each created with mode 0700 if it
    is missing. With ``credentials`` (and ``warn``), an existing directory that group or
    other users may enter is logged as a warning, with the command that closes it."""
    directories = []
    for key in _DIRECTORY_SETTINGS:
        value = settings.value(key)
        if not value:
            continue
        path = Path(value)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError as exc:
            raise StorageError(f"{name}: cannot create the QuickFIX {key} directory "
                               f"{path}: {exc.strerror or exc}") from exc
        if credentials and warn and os.name == "posix" and mode & 0o077:
            log.warning("%s: QuickFIX writes the Logon, credentials included, to %s, which "
                        "other users may read (mode %04o); run: chmod 700 %s",
                        name, path, mode, path)
        directories.append(path)
    return directories


def private_files(directories: Iterable[Path], prefix: str, name: str) -> None:
    """Take group and other access away from this user's files in ``directories`` whose
    names are ``prefix`` followed by "." or "-" (QuickFIX names the files of a session
    ``<BeginString>-<SenderCompID>-<TargetCompID>``, then its qualifier and suffixes)."""
    if os.name != "posix":
        return
    uid = os.getuid()
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            log.warning("%s: cannot list %s to make its files private: %s", name, directory,
                        exc)
            continue
        for entry in entries:
            if not entry.name.startswith(prefix) or entry.name[len(prefix):][:1] not in ".-":
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and info.st_uid == uid and info.st_mode & 0o077:
                    os.chmod(entry.path, stat.S_IMODE(info.st_mode) & 0o700)
            except OSError as exc:
                log.warning("%s: cannot make %s private: %s", name, entry.path, exc)
