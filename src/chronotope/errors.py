"""The project's exceptions. A `UsageError` is a bad argument: the CLI prints it on one line
and exits with status 2; the server answers it with HTTP 400."""


class ChronotopeError(Exception):
    """Base class of every error chronotope raises on purpose."""


class UsageError(ChronotopeError, ValueError):
    """A bad argument: an impossible size, an unknown name, a value out of range.

    `param` names the offending argument (the CLI flag or API field without dashes) where known.
    """

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param


class MemoryBudgetError(UsageError):
    """A request whose estimated memory exceeds the budget, refused before allocating."""


class CorruptFileError(ChronotopeError):
    """A file that cannot be read as what it claims to be (video, image, weights)."""
