"""The SQS-triggered Lambda entrypoint of sedo's processor."""
