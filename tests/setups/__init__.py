"""Each provider as the tests set it up: its sandbox config, the tap's config against it,
and the ground truth to compare deliveries with. Cometly's are in `tests/conftest.py`.
"""
