"""The per-number send rate: a long code sends about one segment a second, shared by all workers.

Each sending number has a "next free" time in Redis. A send reserves its slot (now, or when the
number is next free) and is spaced by segments / rate seconds. A slot further away than the
caller will wait is not reserved, so a message put back for later does not hold the number twice.
Without Redis (a single process) the same bookkeeping lives in memory.
"""
from __future__ import annotations

import threading
import time

import redis

_RESERVE = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
if slot - now <= max_wait then
  redis.call('SET', KEYS[1], tostring(slot + cost), 'PX', math.ceil((slot + cost - now) * 1000) + 1000)
end
return tostring(slot - now)
"""


class SendRate:
    def __init__(self, client: redis.Redis | None = None, prefix: str = "gridline:rate:"):
        self.client, self.prefix = client, prefix
        self._script = client.register_script(_RESERVE) if client is not None else None
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, cost_seconds: float, max_wait: float) -> float:
        """Seconds to wait before sending; more than max_wait means 'not reserved, come back then'."""
        now = time.time()
        if self._script is not None:
            try:
                return float(self._script(keys=[self.prefix + key], args=[now, cost_seconds, max_wait]))
            except redis.RedisError:
                pass  # Redis is briefly away: space sends in this process rather than not at all
        with self._lock:
            slot = max(now, self._local.get(key, 0.0))
            if slot - now <= max_wait:
                self._local[key] = slot + cost_seconds
            return slot - now
