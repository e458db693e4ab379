"""The way through: intake → transform → deliver, each step repeatable after a crash."""
