package postgres

// MigrationLockKey is the advisory lock that migrations take, for the
// tests.
const MigrationLockKey = migrationLockKey
