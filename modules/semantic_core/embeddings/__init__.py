"""Embedding models: the bundled defaults and the ways to choose another."""
