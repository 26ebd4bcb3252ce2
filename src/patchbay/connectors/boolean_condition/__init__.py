"""Boolean Condition: the if/else step. ``evaluate(conditions, strictness)`` is its logic,
importable by the workflow engine."""

from .operations import evaluate

__all__ = ["evaluate"]
