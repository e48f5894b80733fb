"""Training both twins in lockstep: recipes, the optimizer, the engine, run limits and saved runs."""
