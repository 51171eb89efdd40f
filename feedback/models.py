"""Outcomes that sales logs, and the reports built from them (see issues 6 and 7)."""
