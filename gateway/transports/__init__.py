"""Endpoints: list ready files, fetch bytes, settle sources, deliver outputs."""
