"""A griffe extension for the API reference: reStructuredText markup in docstrings as Markdown.

The SDK's docstrings use Sphinx roles (``:class:`~cwpro.X```) and double backquotes, which
Markdown would show literally. Before mkdocstrings renders a docstring, roles become inline code
(the last dotted part with ``~``, as Sphinx shows it) and double backquotes single ones.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def markdown(text: str) -> str:
    """``text`` with Sphinx roles and double backquotes turned into Markdown inline code."""

    def role(match: re.Match[str]) -> str:
        tilde, target = match.groups()
        return f"`{target.rpartition('.')[2] if tilde else target}`"

    return _LITERAL.sub(r"`\1`", _ROLE.sub(role, text))


class RstRoles(griffe.Extension):
    """Rewrite every docstring's markup as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called by griffe for each loaded object."""
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
