"""Crafted submissions for the grader (issue 16): see cases.py."""
