"""A third-party module, as a plugin package would ship one, for discovery tests."""
