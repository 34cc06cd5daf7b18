"""nbgrader configuration for the coursekit course.

Layout (run every nbgrader command from the repository root):
    solutions/<assignment>/<notebook>.ipynb    source notebooks: solutions + hidden tests (instructors only)
    assignments/<assignment>/<notebook>.ipynb  student notebooks generated from them (committed)
    submitted/, autograded/, feedback/         created by nbgrader when grading (not committed)

See docs/instructors.md for the generate -> release -> collect -> autograde -> feedback -> export cycle.
"""
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "coursekit-i2i"
# The instructor-facing source is `solutions/`; the student-facing release is `assignments/`.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Autograded cells run short CPU training runs (seconds); nbgrader's default of 30 s per cell is
# too tight for a loaded grading server, and an endless loop must still be cut off.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "python3"
# A flood of output from one cell must not blow up the graded notebook.
c.LimitOutput.max_lines = 500
c.LimitOutput.max_traceback = 50
# Warnings printed to stderr by a test cell would be graded as failures; these are harmless noise.
c.ClearOutput.enabled = True
c.IgnorePattern.pattern = r"(.*UserWarning.*|.*DeprecationWarning.*|.*Kernel is running over TCP.*)"

# Feedback must never reveal hidden tests.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
