"""The kinds of check, one module each; every exercise declaration lists instances of them."""
