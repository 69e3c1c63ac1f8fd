"""The course's grader, being split out of ``tools/assignments.py`` (issue 16).

So far: :mod:`grader.sandbox` builds the bubblewrap command student code will run under, and
:mod:`grader.forbid` is what that sandbox runs before student code loads (torch's normalization
kernels made to raise at the dispatcher). Neither is wired into ``make grade`` yet.
"""
