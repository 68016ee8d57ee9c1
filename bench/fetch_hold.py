"""When does the local broker answer a consumer's waiting fetch? One fetch request for
one partition, past its last record, with a ``max_wait``; a record produced ``delay``
later; the time the answer took.

    python -m bench.fetch_hold --max-wait 500 --delays 0.02,0.1,0.2,0.3,0.45

Apache Kafka answers a waiting fetch as soon as ``fetch.min.bytes`` (1 here) have
arrived, so there the answer follows the record by a millisecond or two. The local
broker (``tansu``) looks at a waiting fetch only at set moments, the first at half the
wait, so a record waits up to half of ``max_wait`` however few partitions the fetch
covers (2026-12-04, max wait 500 ms: produced at 20, 100, 200 ms, answered at 252-253
ms; at 300 ms, answered at 379; max wait 2,000 ms: produced at 100-700 ms, answered at
1,002 ms). That is what a consumer hop costs on the local broker (decision 0019,
corrected): the benchmarks' bus latency is the local broker's, not Kafka's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest

from services.dev.broker import LocalBroker

TOPIC = "fetch-hold"


async def measure(bootstrap: str, max_wait_ms: int, delays: list[float]) -> list[tuple[float, float]]:
    """(produced after, answered after) in ms, for each delay."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await producer.start()
    await client.bootstrap()
    out = []
    try:
        node = client.cluster.leader_for_partition(TopicPartition(TOPIC, 0))
        for delay in delays:
            offset = (await producer.send_and_wait(TOPIC, b"before")).offset + 1
            request = FetchRequest(max_wait_ms, 1, 1 << 20, 0, [(TOPIC, [(0, offset, 1 << 20)])])
            started = time.perf_counter()
            answer = asyncio.ensure_future(client.send(node, request))
            await asyncio.sleep(delay)
            await producer.send_and_wait(TOPIC, b"awaited")
            await answer
            out.append((delay * 1000, (time.perf_counter() - started) * 1000))
    finally:
        await client.close()
        await producer.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-wait", type=int, default=500)
    parser.add_argument("--delays", default="0.02,0.1,0.2,0.3,0.45")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(log_path=Path(tmp) / "broker.log").start()
        try:
            results = asyncio.run(measure(broker.bootstrap, args.max_wait, [float(d) for d in args.delays.split(",")]))
        finally:
            broker.stop()
    for produced, answered in results:
        print(f"max wait {args.max_wait} ms: record produced at {produced:.0f} ms, fetch answered at {answered:.0f} ms")


if __name__ == "__main__":
    main()
