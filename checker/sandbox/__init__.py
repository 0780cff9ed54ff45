"""Running student code in a child process that decides nothing.

``protocol`` frames messages, ``child`` is the child's main loop, ``tracing`` records
the torch calls, ``scenarios`` are the probes the child can run, and ``runner`` is the
parent side that starts, limits, feeds and restarts the child.
"""
