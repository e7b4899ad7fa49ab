from ecrf.app import create_app
from ecrf.evidence import ensure_signing_key

app = create_app()
# Sign with the key kept outside the database (made in the instance folder on first start);
# refuse to start with a key other than the one that signed the log so far.
ensure_signing_key(app)
