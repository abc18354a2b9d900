"""Alerts of the live monitor beyond the training log: a webhook POST, off the training thread."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from typing import Any

logger = logging.getLogger("rlaudit.training.monitor_callback")


def post_async(url: str, payload: dict[str, Any]) -> None:
    """POST `payload` as JSON to `url` in a daemon thread (a convenience: a failure is logged, never
    raised, and a slow endpoint never holds a step)."""

    def post() -> None:
        try:
            req = urllib.request.Request(
                url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(req, timeout=5).close()
        except Exception as e:  # a webhook must never hurt the run
            logger.warning("rlaudit: webhook %s failed: %s", url, e)

    threading.Thread(target=post, daemon=True).start()
