"""Helpers shared by test packages (real processes on 127.0.0.1)."""
