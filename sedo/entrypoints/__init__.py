"""Entrypoints: the API, the processor handler's helpers, the CLI and the local stack."""
