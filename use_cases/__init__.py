"""The application: models, ports and pure logic. Imports only stdlib and pydantic."""
