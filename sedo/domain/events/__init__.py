"""Events (issue 15): EventBridge event patterns, triggers, and what sedo's events look like."""
