"""Sphinx extension for the student edition: hide *gated* exercise solutions too.

sphinx-exercise's ``hide_solutions`` drops a ``{solution}`` directive, but for the gated form
(``{solution-start}`` ... cells ... ``{solution-end}``, used where a solution holds code cells) its
1.2.1 release drops only the start marker: the end marker then crashes the HTML writer and,
worse, the content between the markers would be shown. This extension replaces the two gated
directives with versions that keep sphinx-exercise's bookkeeping, emit private markers, and remove
everything from a start marker to its end marker. tools/book_editions.py loads it for the student
edition only; the public book never uses it.
"""

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx_exercise.directive import SolutionEndDirective, SolutionStartDirective


class hidden_solution_start(nodes.Element):
    pass


class hidden_solution_end(nodes.Element):
    pass


class HiddenSolutionStart(SolutionStartDirective):
    def run(self):
        result = super().run()           # [] under hide_solutions; keeps the gate registry right
        return [hidden_solution_start()] if self.config.hide_solutions else result


class HiddenSolutionEnd(SolutionEndDirective):
    def run(self):
        result = super().run()
        return [hidden_solution_end()] if self.config.hide_solutions else result


def remove_gated(app, doctree):
    for start in list(doctree.findall(hidden_solution_start)):
        parent = start.parent
        if parent is None:
            continue
        i = parent.index(start)
        for j in range(i + 1, len(parent.children)):
            if isinstance(parent.children[j], hidden_solution_end):
                del parent.children[i:j + 1]
                break
        else:
            raise ExtensionError(f"{app.env.docname}: a solution-start without a solution-end at "
                                 "the same level; the student edition cannot hide it")
    for end in list(doctree.findall(hidden_solution_end)):
        raise ExtensionError(f"{app.env.docname}: a solution-end without a solution-start")


def _skip(self, node):
    raise nodes.SkipNode


def setup(app):
    app.setup_extension("sphinx_exercise")
    app.add_node(hidden_solution_start, html=(_skip, None))
    app.add_node(hidden_solution_end, html=(_skip, None))
    app.add_directive("solution-start", HiddenSolutionStart, override=True)
    app.add_directive("solution-end", HiddenSolutionEnd, override=True)
    app.connect("doctree-read", remove_gated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
