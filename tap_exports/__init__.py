"""tap-exports: a Singer tap for asynchronous bulk-export APIs."""
