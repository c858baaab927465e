package netnstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// Binary builds cmd/pathpin once per test process and returns its path;
// $PATHPIN_BIN names a prebuilt one (inside the test VM, which has no Go).
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("PATHPIN_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	build.once.Do(func() {
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
		if err != nil {
			build.err = err
			return
		}
		dir, err := os.MkdirTemp("", "pathpin-test-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "pathpin")
		cmd := exec.Command("go", "build", "-o", build.path, "./cmd/pathpin")
		cmd.Dir = strings.TrimSpace(string(root))
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("building pathpin: %v\n%s", build.err, build.out)
	}
	return build.path
}
