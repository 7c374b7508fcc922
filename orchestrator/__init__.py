"""Failover orchestrator for contact centers."""
