"""Validation of canonical records: XSD (lxml) and business rules."""
