"""Loads the test plugins of tests/cli/site/sitecustomize.py into this process (and removes them after)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SITE = Path(__file__).parent / "cli" / "site"
PLUGINS = [
    ("reader", "test_flaky"),
    ("reader", "test_flaky_iter"),
    ("reader", "test_flaky_unlisted"),
    ("graph_builder", "test_slow"),
]


def load_site_plugins() -> None:
    spec = importlib.util.spec_from_file_location("trackpipe_test_site_plugins", SITE / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)


def unload_site_plugins() -> None:
    from tracking import registry

    for kind, name in PLUGINS:
        registry.unregister(kind, name)
