"""Helpers the tests share: real Postgres databases, a topic tap, a webhook receiver."""
