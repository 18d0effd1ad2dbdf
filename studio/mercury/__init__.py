"""Talking to Mercury (or any OpenAI-compatible server) from the app.

Plain asyncio + the `openai` SDK + `keyring`: no Qt here, so the panel, the
local HTTP server and the tests share one implementation.
"""
