"""The worker side: the scheduler that claims, runs, recovers and cleans up jobs."""
