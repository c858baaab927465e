package nft

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pathpin/pathpin/internal/netnstest"
)

// steerSample is a table with the rules domain policies, DNS answers and
// programs use.
func steerSample(cg *CgroupMatch) *Table {
	t := &Table{Sets: []Set{{Name: "domains_stream", Timeout: 24 * time.Hour}}, Chains: []Chain{
		{Name: "policy_stream", Rules: []Rule{{Counter: true}}},
		{Name: "steer_router", Rules: []Rule{{InDest: "domains_stream", Goto: "policy_stream"}}},
		{Name: "dns_forward", Type: "filter", Hook: "forward", Priority: -140, Rules: []Rule{
			{SrcPort: &L4Port{Proto: "udp", Port: 53}, CtReply: true, Counter: true},
			{SrcPort: &L4Port{Proto: "tcp", Port: 53}, CtReply: true, Counter: true},
		}},
	}}
	if cg != nil {
		t.Chains = append(t.Chains, Chain{Name: "exec", Rules: []Rule{{Cgroup: cg, Drop: true}}})
	}
	return t
}

// TestSteerRulesReadBack: the rules of domain policies, of DNS answers and
// of programs are written, listed by nft as pathpin renders them (but for
// the cgroup, which nft names by a path it looks up itself), and read
// back as written.
func TestSteerRulesReadBack(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	c, read := openIn(t, ns)
	want := steerSample(nil)
	ns.Must(func() error { return c.Apply(want) })
	if got := ns.Run("nft", "list", "table", "ip", TableName); got != want.Render(false) {
		t.Errorf("nft list differs from pathpin's rendering:\n%s", cmp.Diff(want.Render(false), got))
	}
	if diff := cmp.Diff(want.Render(false), read().Render(false)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}

	// A cgroup of the test's own, under the cgroup v2 hierarchy.
	root := cgroup2Root(t)
	dir, err := os.MkdirTemp(root, "pathpin-test-")
	if err != nil {
		t.Skipf("skipping the cgroup match: cannot make a cgroup under %s: %v", root, err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	cg := &CgroupMatch{Level: 1, ID: st.Ino}
	want = steerSample(cg)
	ns.Must(func() error { return c.Update(read(), want) })
	got := read()
	if !got.Equal(want) {
		t.Errorf("with a cgroup match, read back (-want +got):\n%s", cmp.Diff(want.Render(false), got.Render(false)))
	}
	ch := got.Chains[len(got.Chains)-1]
	if ch.Name != "exec" || ch.Rules[0].Foreign || ch.Rules[0].Cgroup == nil || ch.Rules[0].Cgroup.ID != st.Ino {
		t.Errorf("the cgroup rule reads back as %+v", ch.Rules)
	}
}

// cgroup2Root is where the cgroup v2 hierarchy is mounted.
func cgroup2Root(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if f := strings.Fields(pre); ok && len(f) > 4 && strings.HasPrefix(post, "cgroup2 ") {
			return filepath.Clean(f[4])
		}
	}
	t.Skip("skipping the cgroup match: no cgroup v2 hierarchy is mounted")
	return ""
}
