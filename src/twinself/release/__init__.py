"""Releasing a new memory version: validate the data, build the version, gate it, activate it."""
