"""The HTTP API (contract v1): FastAPI routes over the services."""
