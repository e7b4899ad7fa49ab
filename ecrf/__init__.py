"""The eCRF application: forms, commands, HTTP API, accounts, exports and the CLI."""
