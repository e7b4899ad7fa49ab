"""The HTTP API: thin views that parse, authorise, call one command or query, and answer."""
