"""Exercise declarations, one module per lesson notebook (see ``checker.registry``)."""
