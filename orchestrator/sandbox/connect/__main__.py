"""``python -m orchestrator.sandbox.connect --seed FILE --port N``: the Connect double as its own process."""

from orchestrator.sandbox.connect.server import main

main()
