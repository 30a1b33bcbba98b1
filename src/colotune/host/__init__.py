"""Code that runs on a trading host: the Python standard library only.

The topology reader, the collector with its parsers, and the tuning engine run on
hosts that have python3 and nothing else. colotune.bundle ships them, as one
program, the only way they reach a host; the controller imports the same modules
(the parsers read snapshots, the topology is planned from). tests/unit/test_bundle.py
fails on an import here that is not the standard library or this package.
"""
