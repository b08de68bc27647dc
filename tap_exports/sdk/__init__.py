"""The singer-sdk layer: the tap, its stream class and the record paths.

The only package that imports singer_sdk; everything below it (the engine, the
providers) is plain Python a test can drive without a tap.
"""
