"""Cornect's API, emulated: search, credits, exports of filters or lists, and download calls.

With its data and configuration; `emulator.py` is what the sandbox server calls.
"""
