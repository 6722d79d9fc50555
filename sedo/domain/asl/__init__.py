"""Import Amazon States Language (Step Functions, JSONPath) into sedo definitions.

Pure: a parsed ASL document in, a sedo definition document (or every problem, each
at its JSON Pointer in the ASL) out. See :func:`translate`.
"""

from sedo.domain.asl.machine import Translation, render_yaml, translate

__all__ = ["Translation", "render_yaml", "translate"]
