"""`--ray` and `--ray-address`: where `audit` and `bench` run their jobs (`rlaudit.executors`)."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from rlaudit.cli import fail

RayOption = Annotated[
    bool,
    typer.Option(
        "--ray",
        help="Run the jobs as Ray tasks on a local Ray cluster started for the run (the ray extra).",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        help="Run the jobs on the Ray cluster at ADDRESS (host:port, auto, ray://host:port); implies --ray.",
        show_default=False,
    ),
]


def check_ray(ray: bool, address: str | None) -> bool:
    """Whether Ray was asked for; without the extra installed, one line naming it and exit 2."""
    if not ray and address is None:
        return False
    if address is not None and not address.strip():
        raise fail("--ray-address: an address (host:port, auto or ray://host:port)")
    if importlib.util.find_spec("ray") is None:
        raise fail("--ray needs Ray, which is not installed: pip install 'rlaudit[ray]'")
    if address is not None:
        from rlaudit.executors import ExecutorUnavailable, check_reachable

        try:
            check_reachable(address)  # before any model loads or organism builds
        except ExecutorUnavailable as e:
            raise fail(f"--ray-address: {e}") from None
    return True
