import threading

from ecrf.app import create_app
from ecrf.evidence import ensure_signing_key, run_witness_forever
from ecrf.server import settle_for_serving

app = create_app()
# Sign with the key kept outside the database (made in the instance folder on first start);
# refuse to start with a key other than the one that signed the log so far, or on a log that no
# longer reaches the witness file; witness the head every interval while events come.
ensure_signing_key(app)
threading.Thread(target=run_witness_forever, args=(app, threading.Event()), daemon=True,
                 name="witness").start()
# Last: a short GIL switch interval, and the startup heap out of every full garbage
# collection (ecrf/server.py), as `ecrf serve` has them.
settle_for_serving()
