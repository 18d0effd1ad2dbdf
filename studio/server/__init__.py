"""The local HTTP API (`studio serve`, or inside the app): the engine's job
queue and the Mercury client behind FastAPI. Imports engine and mercury,
never ui."""
