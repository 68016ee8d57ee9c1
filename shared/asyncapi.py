"""The topics as an AsyncAPI 3 document, generated from the pydantic models in
``shared.events``: what an integrator needs to consume the platform's events
without reading its code.

Every event is the envelope of CONTRACT.md with its topic's payload. The JSON
Schemas come from the models themselves (``models_json_schema``), so the document
cannot describe another event than the one the code builds. ``docs/asyncapi.json``
keeps the whole system's document in the repository; a test fails when it and the
models disagree:

    python -m shared.asyncapi > docs/asyncapi.json

Each producing service serves its own part at ``GET /asyncapi.json`` (CONTRACT.md).
"""

from __future__ import annotations

import copy
import json
import sys
from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events import PAYLOADS, SCHEMA_VERSION, Envelope, Payload, Topics, Watermarks

REF = "#/components/schemas/{model}"

#: Who publishes each topic (CONTRACT.md, "Topics"), and what it means.
TOPICS: dict[str, tuple[str, str]] = {
    Topics.case_created: ("intake-svc", "A case was accepted (咨询/投诉 received on any channel)."),
    Topics.case_transferred: (
        "routing-svc",
        "The responsible unit or person changed: first assignment, transfer, work order to a branch, "
        "escalation, return. `owner` is the first responder (首问责任人).",
    ),
    Topics.case_overdue: (
        "sla-svc",
        "A time limit is about to run out (`level: warning`), ran out (`breach`), was escalated, "
        "or an earlier alert is no longer true (`withdrawn`).",
    ),
    Topics.case_updated: ("intake-svc", "A lifecycle change: registered, reclassified, replied, closed, reopened ..."),
}

HEADERS = {
    "type": "object",
    "description": "Kafka record headers set by the producer's outbox relay.",
    "properties": {
        "producer": {"type": "string", "description": "the service that published the event"},
        "producer-seq": {
            "type": "string",
            "description": "per (producer, topic) publish sequence, rising by one; a consumer holding every "
            "number up to a watermark's has missed nothing (platform.watermarks)",
        },
        "traceparent": {"type": "string", "description": "W3C trace context, when tracing is on"},
    },
}


def _name(topic: str) -> str:
    return PAYLOADS[topic].__name__


def _schemas() -> dict[str, Any]:
    """Every payload, the envelope and the watermarks, with their enums, as components."""
    models: list[type[Payload] | type[Envelope] | type[Watermarks]] = [*PAYLOADS.values(), Envelope, Watermarks]
    _, top = models_json_schema([(m, "serialization") for m in models], ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    envelope = schemas.pop(Envelope.__name__)
    for topic in PAYLOADS:
        event = copy.deepcopy(envelope)
        event["title"] = f"{_name(topic)}Event"
        event["description"] = f"The envelope of a `{topic}` event (schema_version {SCHEMA_VERSION})."
        event["properties"]["type"] = {"const": topic, "type": "string"}
        event["properties"]["payload"] = {"$ref": REF.format(model=_name(topic))}
        schemas[f"{_name(topic)}Event"] = event
    return dict(sorted(schemas.items()))


@cache
def document(producer: str | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the topics ``producer`` publishes (all, if None);
    built once per producer (callers must not change it)."""
    topics = [t for t, (by, _) in TOPICS.items() if producer in (None, by)]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in [*topics, Topics.watermarks]:
        name = "Watermarks" if topic == Topics.watermarks else _name(topic)
        by, meaning = TOPICS.get(topic, ("every producer", _WATERMARKS))
        messages[name] = {
            "name": name,
            "title": topic,
            "contentType": "application/json",
            "payload": {"$ref": REF.format(model="Watermarks" if topic == Topics.watermarks else f"{name}Event")},
            "headers": HEADERS,
            "bindings": {"kafka": {"key": {"type": "string", "description": _KEY.get(topic, "the producer")}}},
        }
        channels[topic] = {
            "address": topic,
            "description": f"{meaning} Published by {by}.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Case platform events{f' ({producer})' if producer else ''}",
            "version": str(SCHEMA_VERSION),
            "description": _DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "KAFKA_BOOTSTRAP_SERVERS of the deployment",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas()},
    }


_KEY = {t: "the case id (every event of one case is on one partition, in order)" for t in PAYLOADS}
_WATERMARKS = "How far each producer has published, per topic, every few seconds."
_DESCRIPTION = (
    "Every event is UTF-8 JSON: the envelope (event_id, type, schema_version, occurred_at, case_id, "
    "producer, correlation_id) with the topic's payload. Delivery is at least once: deduplicate on "
    "event_id. Payloads carry no personal data (no names, phone or ID numbers). A consumer group's "
    "unprocessable messages go to `<group>.dead-letter`."
)


def main() -> None:
    json.dump(document(sys.argv[1] if len(sys.argv) > 1 else None), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
