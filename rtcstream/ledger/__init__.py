"""The session ledger: per session and per turn, what happened and how long it took (docs/guide.md)."""
