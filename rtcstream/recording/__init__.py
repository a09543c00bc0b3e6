"""Recordings and transcripts of sessions, in Django's file storage (docs/guide.md)."""
