"""The contract between services: records, envelope codec, topic catalogue, taxonomy."""
