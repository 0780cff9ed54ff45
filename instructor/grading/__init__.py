"""Grading: the class's day, nbgrader's pipeline and its lanes, a cluster, the gradebook, the verdicts."""
