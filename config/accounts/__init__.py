"""Signing in safely: two-factor policy and steps, session limits, and ending a person's sessions."""
