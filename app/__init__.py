"""Nabla: numerical derivatives as a service."""
