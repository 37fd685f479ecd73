"""Connector state: rate windows, circuit breakers, API call log."""
