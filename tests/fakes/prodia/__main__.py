"""``python -m tests.fakes.prodia``: serve the fake Prodia until SIGTERM/SIGINT."""

from tests.fakes.prodia.cli import main

if __name__ == "__main__":
    main()
