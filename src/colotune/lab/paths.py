"""Where the lab keeps its cached image and its runtime state (env overrides first)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "COLOTUNE_LAB_CACHE"
ENV_STATE = "COLOTUNE_LAB_STATE"
ENV_INVENTORY = "COLOTUNE_LAB_INVENTORY"


def repo_root() -> Path:
    """The repository this package runs from (editable install), else the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "inventory").is_dir():
            return parent
    return Path.cwd()


def cache_dir() -> Path:
    """The image cache: $COLOTUNE_LAB_CACHE or ${XDG_CACHE_HOME:-~/.cache}/colotune/lab."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "colotune" / "lab"


def state_dir() -> Path:
    """Overlays, PID files, serial logs and ports: $COLOTUNE_LAB_STATE or <repo>/.lab."""
    if os.environ.get(ENV_STATE):
        return Path(os.environ[ENV_STATE])
    return repo_root() / ".lab"


def inventory_file() -> Path:
    """The generated inventory: $COLOTUNE_LAB_INVENTORY or <repo>/inventory/lab.yml."""
    if os.environ.get(ENV_INVENTORY):
        return Path(os.environ[ENV_INVENTORY])
    return repo_root() / "inventory" / "lab.yml"
