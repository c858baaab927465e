package netnstest

import (
	"os"
	"path/filepath"
	"testing"
)

// Main runs the package's tests and then removes what the package's
// helpers left outside the namespaces (the built pathpin binary). Use it
// as the body of TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
	return code
}
