"""The dashboard's pages: each module has routes(site)."""
