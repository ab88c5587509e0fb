"""reporters stage."""
