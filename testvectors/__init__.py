"""Conformance vectors (SPEC §12): the deterministic world and the generator that writes them."""
