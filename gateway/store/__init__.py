"""Durable state: the ledger (SQLite), the content-addressed archive, atomic file writes."""
