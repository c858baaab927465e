package uplink

import (
	"path/filepath"
	"testing"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestPolicyGoldensLoadInNft: what plan shows for policies is nft syntax
// that nft itself accepts (checked, in a namespace of the test's own).
func TestPolicyGoldensLoadInNft(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	files, _ := filepath.Glob("testdata/policies-*.nft.golden")
	files = append(files, "testdata/balance-sticky.nft.golden")
	if len(files) < 6 {
		t.Fatalf("only %d policy goldens", len(files))
	}
	for _, f := range files {
		ns.Run("nft", "-c", "-f", f)
	}
}
