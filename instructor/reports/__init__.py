"""Reports: what the class got wrong (from the verdicts' data) and the charts."""
