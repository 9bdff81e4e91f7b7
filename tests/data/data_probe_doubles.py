"""Probe stand-ins for the scan's timeout/crash guard. Kept free of torch imports: the scan's
worker processes import this module by name, and must start fast."""

import os
import time

from chronotope.data.probing import probe


def slow_probe(path: str):
    """Hangs on files named slow*: stands in for a pathological file."""
    if os.path.basename(path).startswith("slow"):
        time.sleep(60)
    return probe(path)


def crashing_probe(path: str):
    """Dies on files named crash*: what a segfault in the decoder looks like to the scan."""
    if os.path.basename(path).startswith("crash"):
        os._exit(3)
    return probe(path)
