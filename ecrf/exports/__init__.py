"""Exports of the trial data: CSV, ODM and charts, each recorded as an event."""
