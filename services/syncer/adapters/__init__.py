"""The syncer's adapters: one module per external system."""
