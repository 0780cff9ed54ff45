"""The foundations checker: decides, outside the student's process, whether each exercise is right.

In a notebook: ``from checker import check, check_all``. From a shell:
``python -m checker 01_matmul.ipynb``. Under pytest: ``pytest --submission 01_matmul.ipynb``.
"""
import os as _os

if _os.environ.get("CHECKER_IN_SANDBOX"):
    def check(*args, **kwargs):
        return None

    check_all = grade_cell = check
else:
    import sys as _sys

    if "IPython" in _sys.modules:  # in a kernel: record how each cell run ends, for check()
        from checker.kernel_history import install_here as _install_here
        _install_here()

    def check(name, notebook=None, path=None):
        """Check one exercise; see ``checker.notebook.check``."""
        from checker.notebook import check as _check
        return _check(name, notebook, path)

    def check_all(notebook=None, path=None):
        """Check every exercise of this notebook; see ``checker.notebook.check_all``."""
        from checker.notebook import check_all as _check_all
        return _check_all(notebook, path)

    def grade_cell(name, notebook):
        """What a graded test cell calls; see ``checker.notebook.grade_cell``."""
        from checker.notebook import grade_cell as _grade_cell
        return _grade_cell(name, notebook)

__all__ = ["check", "check_all", "grade_cell"]
