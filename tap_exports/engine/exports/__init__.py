"""Exports: the job as data, its lifecycle's decisions, and the scheduler that keeps them moving."""
