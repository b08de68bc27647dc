"""Planning: the windows and partitions a sync exports, and when a record belongs to one."""
