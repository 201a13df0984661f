"""What the benchmarks share: the environment of a service they start."""

from __future__ import annotations

import os

from mailprobe.crypto import generate_key


def bench_env(redis_url: str, **overrides: str) -> dict[str, str]:
    """This process's environment without MAILPROBE_* settings, then a benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    env.update(
        MAILPROBE_REDIS_URL=redis_url,
        MAILPROBE_ENCRYPTION_KEYS=generate_key("bench"),
        MAILPROBE_ALLOWED_NETWORKS="127.0.0.0/8",
        MAILPROBE_ALLOWED_PORTS="1-65535",
        # Every session goes to the one sink: no per-destination cap here.
        MAILPROBE_DESTINATION_CONCURRENCY="100000",
    )
    env.update(overrides)
    return env
