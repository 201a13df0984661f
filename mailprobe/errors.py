"""The core's errors, in one place, so a front-end or the worker catches them without
knowing which store or check raised them. Each message is fit to show a caller and never
holds a secret; the front-ends give each its own code (api/errors.py and the operations).

    MailprobeError
    ├── KeyringError        the configured encryption keys are missing or malformed (start-up);
    │                       also a ValueError
    ├── DecryptionError     no key of the keyring opens a ciphertext (wrong key, tampered, or
    │                       sealed for another record)
    ├── DestinationRefused  the destination policy does not allow a host, address or port
    ├── RateLimited         over the tenant's rate: `wait` seconds until it would be admitted
    ├── StaleSecret         a stored secret would go to a destination it was not stored for
    └── NotReplicated       fewer Redis replicas than MAILPROBE_REDIS_MIN_REPLICAS
                            acknowledged a write in time (mailprobe.durability)
"""

from __future__ import annotations


class MailprobeError(Exception):
    """Base of the core's errors."""


class KeyringError(MailprobeError, ValueError):
    """The configured keys are missing or malformed: a start-up error."""


class DecryptionError(MailprobeError):
    """A ciphertext that no key of the keyring opens (wrong key, tampered, or other record)."""


class DestinationRefused(MailprobeError):
    """The destination is not allowed by policy; the message says why, without secrets."""


class RateLimited(MailprobeError):
    """Over the tenant's rate: `wait` seconds until the submission would be admitted."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.3f} s")
        self.wait = wait


class StaleSecret(MailprobeError):
    """A stored secret would go to a destination it was not stored for."""


class NotReplicated(MailprobeError):
    """Fewer replicas than MAILPROBE_REDIS_MIN_REPLICAS acknowledged in time."""

    def __init__(self, acknowledged: int, wanted: int) -> None:
        super().__init__(f"{acknowledged} of {wanted} replicas acknowledged the write")
        self.acknowledged = acknowledged
        self.wanted = wanted
