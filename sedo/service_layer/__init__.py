"""Use cases: what the API, the processor and the CLI ask sedo to do."""
