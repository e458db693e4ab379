"""Declarative mappings: partner formats to canonical documents (readers) and back (writers)."""
