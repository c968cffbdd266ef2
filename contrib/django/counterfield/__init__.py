"""Integrations of the counterfield PostgreSQL extension."""
