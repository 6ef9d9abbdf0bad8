"""The embedded default's channel layer.

Channels' ``InMemoryChannelLayer`` (4.3) stores ``channel_capacity`` as given and
then iterates it as a list of (compiled pattern, capacity) pairs, so any
per-channel capacity makes every send and receive raise ValueError; only the
Redis layer compiles it. The task channel needs a capacity far above the default
100 (every open page may have 105 tasks outstanding), so this layer compiles it.
"""

from channels.layers import InMemoryChannelLayer as _InMemoryChannelLayer


class InMemoryChannelLayer(_InMemoryChannelLayer):
    def __init__(self, expiry=60, group_expiry=86400, capacity=100, channel_capacity=None, **kwargs):
        super().__init__(expiry=expiry, group_expiry=group_expiry, capacity=capacity, **kwargs)
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
