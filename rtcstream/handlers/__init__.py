"""Handler classes and what they return."""
