"""Contracts every service imports: domain enums, event envelope and payloads, API models.

Nothing here touches a database or the bus; it is the vocabulary the services share.
"""
