"""Benchmarks that print figures, never pass/fail gates."""
