"""Userpilot's export API, emulated: one job per token, parts in four formats.

With its data and configuration; `emulator.py` is what the sandbox server calls.
"""
