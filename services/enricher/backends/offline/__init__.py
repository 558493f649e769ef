"""Building blocks of the offline enrichment backend: text, matching, scoring, lexicons."""
