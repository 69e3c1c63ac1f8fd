"""The course's grader, being split out of ``tools/assignments.py`` (issue 16).

So far it holds :mod:`grader.forbid`, the piece the bubblewrap sandbox runs before student code
loads: torch's normalization kernels made to raise at the dispatcher.
"""
