"""The workflow engine: definitions, data mapping, the deterministic interpreter."""
