"""Our murmur2 partitioner must place every key where Kafka's own partitioner does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given
from hypothesis import strategies as st

from services.shared.partitioner import murmur2, partition_for


@given(st.binary(max_size=200))
def test_murmur2_equals_the_java_client_algorithm(key: bytes) -> None:
    assert murmur2(key) == reference_murmur2(key)


def test_known_java_client_values() -> None:
    # values from Kafka's own UtilsTest.testMurmur2
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") == -790332482 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == -985981536 & 0xFFFFFFFF
    assert murmur2(b"") == 275646681


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=64))
def test_keys_land_on_the_default_partitioners_partition(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_for(key, partitions, partitions) == DefaultPartitioner()(
        key, partitions, partitions
    )


def test_a_keyless_message_goes_to_an_available_partition() -> None:
    assert partition_for(None, [0, 1, 2, 3], [2]) == 2
    assert partition_for(None, [0, 1], []) in (0, 1)
