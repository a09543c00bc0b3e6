"""Errors of the media layer."""


class HandlerOutputError(ValueError):
    """A handler produced something that is not valid media; the message says what was expected."""
