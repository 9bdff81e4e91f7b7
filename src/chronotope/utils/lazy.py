"""Package namespaces that import their modules on first use (PEP 562), so that a command
which needs one small module of a package (`chronotope --help` reads the training config's
fields) does not pay for the package's heavy ones (diffusers, the trainer)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable]:
    """`__getattr__` and `__dir__` for `package`'s namespace: `exports` maps each public name to
    the submodule (relative to `package`) that defines it."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
