"""Webhook delivery: the master key secrets are derived from, and the worker that posts the outbox."""
