"""Outlets that belong to no external system (``memory``, for tests and demonstrations)."""
