package registry

// HasRole exposes hasRole to the external tests.
var HasRole = hasRole
