//go:build !unix

package vault

// exclusive claims nothing where the platform has no advisory file
// locks: stop the server party before a command that changes its vault.
func (s *fileStore) exclusive() (func(), <-chan struct{}, error) { return func() {}, nil, nil }
