"""Key rotation: re-encrypt every stored secret under the keyring's current key."""

from __future__ import annotations

import redis

from mailprobe import rediskeys
from mailprobe.crypto import SEALED_RECORDS, SecretBox


def reseal_secrets(client: redis.Redis, box: SecretBox) -> dict[str, int]:
    """How many secrets of each kind were re-encrypted; those under the current key stay."""
    counts = dict.fromkeys(SEALED_RECORDS, 0)
    for kind, context_of in SEALED_RECORDS.items():
        for name in client.scan_iter(f"{rediskeys.PREFIX}:{kind}:*", count=1000):
            name = str(name)
            if name.count(":") != 2:
                continue  # e.g. mailprobe:job:{id}:done
            sealed = client.hget(name, "secret")
            if not sealed or box.key_id_of(str(sealed)) == box.current_key_id:
                continue
            record_id = name.rsplit(":", 1)[1]
            plaintext = box.decrypt(str(sealed), context_of(record_id))
            # Only where the field still holds what was read: a job that ended meanwhile
            # has dropped its secret, and must not get it back.
            client.eval(
                "if redis.call('HGET', KEYS[1], 'secret') == ARGV[1] then "
                "return redis.call('HSET', KEYS[1], 'secret', ARGV[2]) end return 0",
                1,
                name,
                str(sealed),
                box.encrypt(plaintext, context_of(record_id)),
            )
            counts[kind] += 1
    return counts
