"""Costs: what exports charge, the spending limit, and what earlier exports already held."""
