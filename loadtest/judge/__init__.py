"""Judging: objectives over a window (server and client side), the live monitor that can stop
a run early, the target's resources."""
