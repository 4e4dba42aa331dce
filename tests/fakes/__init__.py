"""Fake external services (a Prodia v2 job API on 127.0.0.1) that the tests talk to instead of the real ones."""
