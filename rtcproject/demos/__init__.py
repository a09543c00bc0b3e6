"""The demo site's handlers: one module per user-guide example."""
