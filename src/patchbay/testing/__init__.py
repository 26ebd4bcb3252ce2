"""Helpers for running Patchbay's loopback service fakes in tests, benchmarks and demos."""
