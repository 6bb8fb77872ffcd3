"""lookalike: lookalike audiences for multi-tenant lead platforms."""

__version__ = "0.1.0"
