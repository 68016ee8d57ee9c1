#!/bin/sh
# The topics of CONTRACT.md and one dead-letter topic per consumer group.
# Key = case id, so partitions keep every case's events in order.
set -e
BS=kafka:9092
K=/opt/kafka/bin/kafka-topics.sh
for topic in case.created case.transferred case.overdue case.updated \
             intake-svc.dead-letter routing-svc.dead-letter sla-svc.dead-letter notify-svc.dead-letter; do
  $K --bootstrap-server $BS --create --if-not-exists --topic "$topic" \
     --partitions "${PARTITIONS:-12}" --replication-factor "${REPLICATION:-1}"
done
