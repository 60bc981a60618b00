"""BGP-4: ``messages`` (the dataclasses), ``attributes`` and ``nlri`` (their
parts), ``wire`` (structures and attribute rules), ``decode`` (construct) and
``fast`` (hand-written). May import ``parsers.afi`` and ``parsers.errors``.
"""
