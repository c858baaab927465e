package dnswatch

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
)

// TestCaptureResolverAnswers asks a real dnsmasq, in a throw-away network
// namespace, each of resolverQueries over UDP or TCP, checks what
// ParsePacket reads in each answer, and writes the answers, as the IPv4
// packets that carried them, into FuzzParsePacket's seed corpus. It runs
// only when PATHPIN_CAPTURE_DNS=1, as root: the committed corpus is what
// the other tests read.
func TestCaptureResolverAnswers(t *testing.T) {
	if os.Getenv("PATHPIN_CAPTURE_DNS") != "1" {
		t.Skip("skipping: set PATHPIN_CAPTURE_DNS=1 (as root) to capture the seed corpus from dnsmasq again")
	}
	netnstest.RequireRoot(t, "dnsmasq")
	ns := netnstest.New(t)
	startResolver(t, ns, "127.0.0.1")
	server := net.JoinHostPort("127.0.0.1", "53")
	old, _ := filepath.Glob(filepath.Join(corpusDir, "dnsmasq-*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, q := range resolverQueries {
		e, err := ask(ns, q.network, server, uint16(0x100+i), q.name, q.typ, 3*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", q.file, err)
		}
		pkt := e.packet(q.network)
		checkAnswer(t, q, pkt)
		if err := os.WriteFile(filepath.Join(corpusDir, q.file), corpusFile(pkt), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d-byte answer over %s", q.file, len(e.msg), strings.ToUpper(q.network))
	}
}
