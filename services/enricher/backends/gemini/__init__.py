"""Building blocks of the Gemini backend: settings, prompts, schemas, budgets and retries."""
