"""Cometly's export API, emulated: local-day exports per stream, and its data.

`emulator.py` is what the sandbox server calls; `requests.py` what a body selects.
"""
