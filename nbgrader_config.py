"""nbgrader configuration of the `foundations` course (run nbgrader from this folder)."""
import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "foundations"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograde"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.solution_directory = "solutions"
# The gradebook lives with the course; set FOUNDATIONS_DB_URL (or pass `python -m instructor autograde
# --db URL`) to use PostgreSQL instead (postgresql://user:password@host/foundations): README, "Past one machine".
c.CourseDirectory.db_url = os.environ.get(
    "FOUNDATIONS_DB_URL", "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db"))

# nbgrader's exchange (release_assignment, fetch, submit, collect) beside the course, so that the formgrader finds
# it; a course on a shared hub points this at the hub's exchange (/srv/nbgrader/exchange) instead.
c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)

# Each cell of a student's notebook gets at most this long in a kernel.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# And all of a notebook's cells together this long (a notebook of many slow cells would hold a grading lane for
# each cell's 120 s): the cells after are not run, the instructor is told (flag "kernel"), the scores do not change.
c.ResilientExecute.notebook_timeout = 150
# Lesson demonstrations (cells tagged "demo") are not part of a submission: skip them when grading.
c.Execute.skip_cells_with_tag = "demo"

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A student who deletes or edits a test cell is still graded by the original.
c.OverwriteCells.add_missing_cells = True

# Scores come from the checker, outside the student's kernel (instructor/grading/verdicts.py): the
# kernel still runs the notebook, for the outputs in the feedback, but its test-cell outputs
# are replaced by the checker's verdicts before SaveAutoGrades reads them.
# instructor/ is not installed (no Python of the venv, a student's kernel included, may import it):
# nbgrader finds it, and the solutions it reads, in this folder.
sys.path.insert(0, c.CourseDirectory.root)
# Named, not imported: nbgrader imports them when it autogrades, and every other command (a release,
# feedback, an export) starts without the checker and torch (about 1.7 s of CPU each).
c.Autograde.autograde_preprocessors = [
    "instructor.grading.verdicts.ResilientExecute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "instructor.grading.verdicts.CheckerVerdicts", "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties", "nbgrader.preprocessors.CheckCellMetadata",
]
c.CheckerVerdicts.hidden_seed = 20261122
# The feedback pages as nbconvert writes them, without its whole-page BeautifulSoup pass (half their CPU).
c.GenerateFeedback.exporter_class = "instructor.grading.feedback_html.FeedbackHTMLExporter"
# A kernel is killed (its whole jail) once its notebook has run, not asked to exit: with torch
# loaded, a graceful exit costs ~0.5 s of CPU and ~1.5 s per notebook, and saves nothing.
c.Execute.shutdown_kernel = "immediate"
# Every kernel and checker process runs confined (Landlock, namespaces, a process cap: see the README's
# "Security" section, and `python -m instructor doctor`). True: refuse to grade where a layer is missing.
c.ResilientExecute.require_confinement = False
