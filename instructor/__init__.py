"""Instructor tools: build the course notebooks from the registry and the solutions, release, grade.

Instructors only: this package reads ``solutions/``, which students never receive.
"""
