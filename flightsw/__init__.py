"""aisat flight software: the executive and the interface everything else is built against.

Nothing in this package imports ``ground``, ``payload`` or ``hil``; they import from it.
"""

__version__ = "0.1.0"
