"""Commands: validate a request against the form and the subject's state, then append."""
