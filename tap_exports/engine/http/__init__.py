"""HTTP: the API client, its rate budgets, and what never reaches a log or a foreign host."""
