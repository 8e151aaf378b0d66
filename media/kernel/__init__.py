"""The compiled fan-out kernel (``_fanout``, built by ``python -m media.kernel.build``).

The shared object is built at install time (``make install``) and git-ignored; where it is
missing or cannot be loaded, ``media.fanout`` keeps its pure-Python loop (see ``fanout.kernel``).
"""
