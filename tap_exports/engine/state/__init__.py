"""State: what a stream keeps besides its bookmark, and the plan resumed from it."""
