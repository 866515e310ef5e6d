"""Exceptions that carry a one-line message for the user.

Every error a user can cause (a missing file, a corrupt table, a bad architecture string) is raised
as a `NasHarnessError`; the CLI prints its message on one line and exits non-zero, with no traceback.
Anything else is a bug and keeps its traceback.
"""


class NasHarnessError(Exception):
    """A user-facing error: the message says what was wrong and what to do."""


class StoreError(NasHarnessError):
    """A benchmark store file is missing, corrupt or does not follow docs/FORMAT.md."""


class SourceMissingError(NasHarnessError):
    """An official benchmark file the user must download is not where we look for it."""
