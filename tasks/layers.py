"""The embedded default's channel layer: Channels' in-memory layer, with two fixes.

1. Channels 4.3 stores ``channel_capacity`` as given and then iterates it as a
   list of (compiled pattern, capacity) pairs, so any per-channel capacity makes
   every send and receive raise ValueError; only the Redis layer compiles it. The
   task channel needs a capacity far above the default 100 (every open page may
   have 105 tasks outstanding), so this layer compiles it.
2. ``receive()`` walks every channel of the process to expire old messages, so
   with N open pages each hop costs O(N) (CHANNELS-NOTES.md: a round trip of 1.8 ms
   at 1,000 idle connections, 30 ms at 15,000). Here the walk runs at most every
   ``CLEANUP_INTERVAL`` seconds: an expired message may wait that much longer
   before it is dropped, and no hop pays for every open page.
"""

import time

from channels.layers import InMemoryChannelLayer as _InMemoryChannelLayer

CLEANUP_INTERVAL = 1.0


class InMemoryChannelLayer(_InMemoryChannelLayer):
    def __init__(self, expiry=60, group_expiry=86400, capacity=100, channel_capacity=None, **kwargs):
        super().__init__(expiry=expiry, group_expiry=group_expiry, capacity=capacity, **kwargs)
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        self._next_cleanup = 0.0

    def _clean_expired(self):
        now = time.monotonic()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + min(CLEANUP_INTERVAL, self.expiry / 10)
        super()._clean_expired()
