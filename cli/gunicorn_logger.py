"""gunicorn's own lines (start-up, workers booting and exiting) in MAILPROBE_LOG_FORMAT, and
the app's logging set up once in gunicorn's master, which its workers inherit.

`mailprobe serve` names this class (--logger-class). Requests are logged by the app itself
(api/requestlog.py), with their request id, so gunicorn's access log is off. It lives outside
the `api` package on purpose: importing that in the master (Flask, Celery, Redis clients)
before the gevent workers fork and patch leaves them locks that break at exit; the `cli`
package imports nothing when this module is loaded.
"""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.glogging import Logger

from mailprobe.logs import configure_logging, formatter
from mailprobe.settings import get_settings


class GunicornLogger(Logger):  # type: ignore[misc]
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        log_format = get_settings().log_format
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter(log_format, sys.stderr))
        # The app's logging too, set up once in the master: the workers inherit it.
        configure_logging(log_format)
