"""notify-svc's event handlers: each runs in the consumer's transaction.

notify takes in every topic: ``case.created``, ``case.transferred`` and
``case.updated`` keep its view of each case (who holds it, how serious it is) and
trigger their own notifications; ``case.overdue`` drives the escalation chain.
"""

from __future__ import annotations

from notify.fanout import handle, handle_batch
from services.consumer import Subscription
from shared.events import Topics

SUBSCRIPTIONS = [Subscription(topic, handle, batch=handle_batch) for topic in Topics.all]
