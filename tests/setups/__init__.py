"""Each provider as the tests set it up: its sandbox config, the tap's config against it,
and the ground truth to compare deliveries with (`cometly.py`, `userpilot.py`, `cornect.py`).
"""
