"""The default runbooks, installed as the package ``orchestrator.runbooks`` (setup.py maps this folder in):
this folder is the one copy, read and edited here, and shipped in the wheel as package data."""
