"""A local stand-in for Gemini's generateContent REST API, answers from an enrichment backend."""

from emulators.gemini.app import EmulatorState, create_app
from emulators.gemini.server import RunningEmulator, serve

__all__ = ["EmulatorState", "RunningEmulator", "create_app", "serve"]
