"""`chronotope` console script: one subcommand per module, registered in `COMMANDS`.

Each command module exposes `register(subparsers)` which adds its parser and sets
`func=run(args) -> int`. A `UsageError` from anywhere becomes one line on stderr and exit 2;
any other `ChronotopeError` (a corrupt input or weight file) one line and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from chronotope.errors import ChronotopeError, UsageError

# module name under chronotope.cli -> registered lazily so `chronotope --help` stays fast
COMMANDS = ["data", "vae", "train", "export", "generate", "eval", "serve", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chronotope",
        description="Generate, train and evaluate spacetime-patch video diffusion models.",
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"chronotope {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ChronotopeError as e:  # an unreadable input or weight file: one line, no traceback
        print(f"chronotope {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
