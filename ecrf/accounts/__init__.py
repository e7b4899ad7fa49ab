"""User accounts: event-sourced (one stream per user), argon2 password hashes, bearer tokens."""
