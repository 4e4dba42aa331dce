"""The domain: job requests, states, member limits and prices; no I/O, nothing from other bot packages."""
