"""Records: checks and types built from a schema, row keys, inferred and evolving fields."""
