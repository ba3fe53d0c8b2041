"""The lineage as data: what one family changed from another (diff)."""
