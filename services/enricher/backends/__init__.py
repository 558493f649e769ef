"""Enrichment backends: one interface (`base`), and a package per backend (`offline`, `gemini`)."""
