import threading

from ecrf.app import create_app
from ecrf.evidence import ensure_signing_key, run_witness_forever
from ecrf.server import freeze_startup_heap

app = create_app()
# Sign with the key kept outside the database (made in the instance folder on first start);
# refuse to start with a key other than the one that signed the log so far, or on a log that no
# longer reaches the witness file; witness the head every interval while events come.
ensure_signing_key(app)
threading.Thread(target=run_witness_forever, args=(app, threading.Event()), daemon=True,
                 name="witness").start()
# Last: the startup heap stays out of every full garbage collection (ecrf/server.py).
freeze_startup_heap()
