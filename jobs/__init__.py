"""The scheduler process. Exactly one runs per deployment; any other stands by."""
