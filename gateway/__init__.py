"""File-exchange gateway between legacy ERPs and e-commerce shops."""

__version__ = "0.1.0"
