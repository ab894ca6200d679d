"""Message brokers: Kafka and Redis Streams sources and sinks, with exactly-once state.

* Sources — :func:`kafka_source` (``confluent-kafka``) and :func:`redis_source`
  (``redis-py``) — are async iterables of validated event frames, size- and time-bounded,
  in event-time order across partitions (:mod:`~stockseries.brokers.eventtime`). Bad
  messages go to a dead-letter topic/stream with the reason.
* :func:`consume` runs a :class:`~stockseries.live.StreamProcessor` on a source with
  checkpoints that carry the offsets (:mod:`~stockseries.brokers.run` states the guarantees).
* Sinks — :class:`KafkaSink`, :class:`RedisStreamSink` — put alerts on a topic/stream,
  idempotent by ``alert_id``; :func:`publish_kafka` / :func:`publish_redis` put events there.
* Formats — one JSON event per message, or Arrow IPC batches (:mod:`~stockseries.brokers.formats`).

The clients are optional (``pip install 'stockseries[brokers]'``) and imported on first use.
"""

from stockseries.brokers._kafka import (
    KafkaSink,
    KafkaSource,
    ensure_topics,
    kafka_source,
    publish_kafka,
)
from stockseries.brokers._redis import RedisSource, RedisStreamSink, publish_redis, redis_source
from stockseries.brokers.eventtime import Position
from stockseries.brokers.partition import partition_of
from stockseries.brokers.retry import BrokerUnavailableError
from stockseries.brokers.run import ConsumeResult, consume

__all__ = [
    "BrokerUnavailableError",
    "ConsumeResult",
    "KafkaSink",
    "KafkaSource",
    "Position",
    "RedisSource",
    "RedisStreamSink",
    "consume",
    "ensure_topics",
    "kafka_source",
    "partition_of",
    "publish_kafka",
    "publish_redis",
    "redis_source",
]
