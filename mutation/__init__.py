"""Mutation testing of the risk code with Cosmic Ray (``make mutation``, docs/MUTATION.md).

``targets`` maps each module to its unit tests, ``sessions`` drives Cosmic Ray one module
at a time in a scratch copy of the tree, ``report`` turns sessions into kill scores and
``annotations`` finds the mutants that can never be killed. Development tooling: nothing
in ``app/`` imports it.
"""
