"""What operators need of a serving process: metrics, the event loop's lag, and a drain on SIGTERM.

Each is a part of the process's ``Runtime`` (``runtime.metrics``, ``runtime.loop_monitor``,
``runtime.drain``), started once per process by ``Runtime.serving()``; docs/deploy.md says
what to scrape and how a rolling restart goes.
"""
