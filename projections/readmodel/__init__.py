"""Materialised read models for trial-wide views, kept current from the store by a runner."""
