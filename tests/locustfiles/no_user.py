"""Helpers only: no User class."""

import locust  # noqa: F401


def helper():
    return 1
