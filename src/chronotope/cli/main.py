"""`chronotope` console script: one subcommand per module, registered in `COMMANDS`.

Each command module exposes `register(subparsers)` which adds its parser and sets
`func=run(args) -> int`. Every error is one line on stderr and exit status 2, never a
traceback: a `ChronotopeError` (a bad argument, a corrupt input or weight file) as its message;
an error of the OS or a library (a missing or unreadable file, a corrupt video, out of memory)
as its message and the file it names; anything else is a bug, said as one line with the
exception's type and a hint: `CHRONOTOPE_DEBUG=1` lets every exception through with its
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from chronotope.errors import ChronotopeError

# module name under chronotope.cli -> registered lazily so `chronotope --help` stays fast
COMMANDS = ["data", "vae", "train", "export", "generate", "eval", "serve", "demo"]
DEBUG_ENV = "CHRONOTOPE_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chronotope",
        description="Generate, train and evaluate spacetime-patch video diffusion models.",
        epilog=f"Errors are one line and exit status 2; {DEBUG_ENV}=1 shows their traceback.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"chronotope.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"chronotope.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def describe(e: BaseException) -> str:
    """One line for the user: what failed and, where the error names one, which file."""
    from chronotope.utils.weights import one_line

    if isinstance(e, ChronotopeError):
        return one_line(e, limit=1000)
    if isinstance(e, OSError):  # FileNotFoundError, PermissionError, PyAV's, a library's
        if not e.strerror:
            return one_line(e)
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    if isinstance(e, MemoryError):
        return "out of memory (a smaller --size, fewer frames or --memory-budget help)"
    if _is_library_error(e):  # a corrupt video (PyAV), weight file (safetensors)
        return f"{type(e).__name__}: {one_line(e)}"
    return (
        f"internal error, a bug: {type(e).__name__}: {one_line(e)} "
        f"(rerun with {DEBUG_ENV}=1 for the traceback)"
    )


def _is_library_error(e: BaseException) -> bool:
    """PyAV's and safetensors' errors (their modules are imported only if a command used them)."""
    found = (
        getattr(sys.modules.get("av.error"), "FFmpegError", None),
        getattr(sys.modules.get("safetensors"), "SafetensorError", None),
    )
    return isinstance(e, tuple(c for c in found if c is not None))


def _command(args: argparse.Namespace) -> str:
    """The command as typed: `vae reconstruct`, `data scan`, `generate`."""
    action = getattr(args, f"{args.command}_command", None)
    return f"{args.command} {action}" if action else args.command


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        print(f"chronotope {_command(args)}: error: {describe(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
