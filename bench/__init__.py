"""sedo's benchmark: cost, throughput, latency and cold imports (``make bench``).

See bench/README.md for what is measured, how, and the schema of results/latest.json.
"""
