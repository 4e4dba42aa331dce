"""Fake external services (a Prodia v2 job API on 127.0.0.1) the tests talk to instead of real ones."""
