"""``execbox worker``: takes runs from the Redis queue and runs them in this host's
sandboxes (see :mod:`execbox.worker.main`)."""
