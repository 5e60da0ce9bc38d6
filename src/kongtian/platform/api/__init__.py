"""The HTTP API of the platform service (FastAPI): :func:`create_app` in :mod:`.app`."""
