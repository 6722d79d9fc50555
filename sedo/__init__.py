"""sedo: a serverless, event-driven workflow orchestrator."""

__version__ = "0.1.0"
