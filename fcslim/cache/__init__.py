"""Content-addressed caches: the store (`store.Cache`), its local backend, keys, locks, bundles, maintenance."""
