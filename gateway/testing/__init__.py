"""The conformance kit: the suites every format and outlet plugin passes, shipped with the
gateway so that a vendor tests a plugin without the gateway's own tests.

- :mod:`gateway.testing.formats`: checks of a format handler over sample files.
"""
