"""The tamper-evident audit trail: an append-only chain of entries, each hashed over the one before."""
