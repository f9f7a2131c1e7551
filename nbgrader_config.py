# nbgrader configuration for llmcourse: `solutions/` is the source, `notebooks/` the release.
# `llmcourse course build` and `llmcourse course grade` set the same values programmatically;
# this file is for instructors who run nbgrader's own commands (`nbgrader generate_assignment ...`).
c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "llmcourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.Execute.timeout = 300  # seconds per cell; a student's infinite loop scores 0 for that cell
c.Execute.interrupt_on_timeout = True
