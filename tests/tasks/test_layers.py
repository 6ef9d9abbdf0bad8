"""The embedded default's in-memory channel layer."""

import pytest
from channels.exceptions import ChannelFull

from tasks.layers import InMemoryChannelLayer


async def test_per_channel_capacity_works():
    layer = InMemoryChannelLayer(capacity=2, channel_capacity={"bcpages.tasks": 5})
    for n in range(5):
        await layer.send("bcpages.tasks", {"type": "x", "n": n})
    with pytest.raises(ChannelFull):
        await layer.send("bcpages.tasks", {"type": "x"})
    await layer.send("other", {"type": "x"})
    await layer.send("other", {"type": "x"})
    with pytest.raises(ChannelFull):
        await layer.send("other", {"type": "x"})
    assert (await layer.receive("bcpages.tasks"))["n"] == 0


async def test_receive_does_not_walk_every_channel_each_time():
    layer = InMemoryChannelLayer(expiry=60)
    walks = []

    class CountingDict(dict):
        def items(self):
            walks.append(1)
            return super().items()

    layer.channels = CountingDict()
    for n in range(100):
        await layer.send(f"c{n}", {"type": "x"})
    for n in range(100):
        await layer.receive(f"c{n}")
    assert len(walks) == 1  # one walk for 100 receives, not 100


async def test_expired_messages_are_still_dropped(monkeypatch):
    import channels.layers

    class Clock:
        now = 1000.0

        def time(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(channels.layers, "time", clock)
    layer = InMemoryChannelLayer(expiry=10)
    await layer.send("c", {"type": "old"})
    clock.now += 11  # the first message expires
    await layer.send("c", {"type": "new"})
    assert (await layer.receive("c"))["type"] == "new"
