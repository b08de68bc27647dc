"""The provider-neutral engine: windows, job lifecycle, rate budget, download, decode.

Nothing here imports singer_sdk, so every piece can be tested and reused on its own.
"""
