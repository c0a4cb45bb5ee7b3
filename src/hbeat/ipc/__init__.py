"""Everything two hbeat processes must agree on, defined once.

The supervisor (`supervisor`) and its workers (`workers`) never import each
other: both import this package, which imports neither (tests/test_imports.py
checks it). It owns

* `bus`: the worker bus (ZeroMQ multipart over
  `ipc://<runtime-dir>/private/bus`, a ROUTER in the supervisor, one DEALER
  per worker whose identity is its name, such as `bcast eth1` or
  `executor`) and every link-worker message, one typed class per verb with
  one encoder and one decoder;
* `keepalive`: the keepalive content the supervisor pushes and the one
  builder of the status message the workers send from it;
* `seqboard`: the sequence board, the shared file holding the node's
  sequence numbers, the keepalive schedule and the supervisor's lease;
* `executor`: the executor's run request, its result and other messages,
  and the one verdict of a script call;
* `leasefile`: the executor's liveness lease, a small shared file it renews
  and the supervisor reads;
* `journal`: the decision journal's entry and file format (the supervisor
  writes it, `hbeat why` reads it; docs/journal.md);
* `statusfeed`: the status feed's schema versions (the supervisor publishes,
  `hbeat status`/`watch` and other tools read; fields in docs/status-feed.md).

The table of verbs is docs/processes.md ("The bus").
"""
