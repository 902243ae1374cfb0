"""The ``aisat`` command: a thin dispatcher to each package's own entry points.

Subcommands import their package only when called, so ``flightsw`` never imports
``ground``, ``payload`` or ``hil``, and ``aisat ground ...`` starts quickly.
"""
