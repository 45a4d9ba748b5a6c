"""Plan and run: ``ir.Recipe`` -> ``Plan`` (content-addressed DAG) -> cached chunks -> dataset."""
