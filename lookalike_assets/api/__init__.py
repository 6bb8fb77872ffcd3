"""lookalike's REST API (FastAPI): a thin layer over the same pipeline functions the CLI and the assets use."""
