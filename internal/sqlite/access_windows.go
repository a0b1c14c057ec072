package sqlite

// checkWritable refuses, before SQLite opens anything, a data directory
// dir or a database file path (both absolute) that this process cannot
// write; Windows has no access(2), so it is probeWritable.
func checkWritable(dir, path string) error { return probeWritable(dir, path) }
