"""The API's adapters: one module per external system (PostgreSQL tables, Kafka)."""
