"""Content-addressed caches: store, bundles, location."""
