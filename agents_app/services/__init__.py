"""Engine writes: starting sessions, controlling runs, approvals, policies — one transaction each."""
