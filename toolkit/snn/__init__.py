"""The snn-loihi network format, input encoding and Loihi core counting.

Shared by the ``to-snn`` converter and the ``snn-fast`` / ``loihi-sim`` targets, so it lives in
the toolkit (targets never import converters).
"""
