package dnswatch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// corpusDir holds FuzzParsePacket's seed corpus. The files named
// "dnsmasq-…" are real answers of dnsmasq, captured by
// TestCaptureResolverAnswers.
const corpusDir = "testdata/fuzz/FuzzParsePacket"

// resolverQuery is one question asked of the real resolver and what
// ParsePacket must read in its answer.
type resolverQuery struct {
	file     string // the corpus file its answer is kept in
	network  string // "udp" or "tcp"
	name     string
	typ      dnsmessage.Type
	wantErr  error
	question string
	want     []string // brief(Addrs), sorted
	count    int      // when want is nil: how many addresses
}

var (
	streamAddrs = []string{"192.0.2.10 5m0s stream.example", "192.0.2.11 5m0s stream.example", "192.0.2.12 5m0s stream.example"}
	chainAddrs  = []string{"198.51.100.7 1m0s www.chain.example>edge.chain.example>host.cdn.example"}
)

var resolverQueries = []resolverQuery{
	{file: "dnsmasq-udp-stream-a", network: "udp", name: "stream.example", typ: dnsmessage.TypeA, question: "stream.example", want: streamAddrs},
	{file: "dnsmasq-tcp-stream-a", network: "tcp", name: "stream.example", typ: dnsmessage.TypeA, question: "stream.example", want: streamAddrs},
	{file: "dnsmasq-udp-mixed-case-a", network: "udp", name: "StReAm.ExAmPlE", typ: dnsmessage.TypeA, question: "stream.example", want: streamAddrs},
	{file: "dnsmasq-udp-stream-aaaa", network: "udp", name: "stream.example", typ: dnsmessage.TypeAAAA, question: "stream.example", want: []string{}},
	{file: "dnsmasq-udp-chain-a", network: "udp", name: "www.chain.example", typ: dnsmessage.TypeA, question: "www.chain.example", want: chainAddrs},
	{file: "dnsmasq-tcp-chain-a", network: "tcp", name: "www.chain.example", typ: dnsmessage.TypeA, question: "www.chain.example", want: chainAddrs},
	{file: "dnsmasq-udp-chain-aaaa", network: "udp", name: "www.chain.example", typ: dnsmessage.TypeAAAA, question: "www.chain.example", want: []string{}},
	{file: "dnsmasq-udp-edge-a", network: "udp", name: "edge.chain.example", typ: dnsmessage.TypeA, question: "edge.chain.example",
		want: []string{"198.51.100.7 1m0s edge.chain.example>host.cdn.example"}},
	{file: "dnsmasq-udp-many-a", network: "udp", name: "many.example", typ: dnsmessage.TypeA, question: "many.example", count: MaxAddrs},
	{file: "dnsmasq-tcp-many-a", network: "tcp", name: "many.example", typ: dnsmessage.TypeA, question: "many.example", count: MaxAddrs},
	{file: "dnsmasq-udp-nx-a", network: "udp", name: "nx.example", typ: dnsmessage.TypeA, wantErr: errUncounted},
	{file: "dnsmasq-udp-sub-nx-a", network: "udp", name: "www.nx.example", typ: dnsmessage.TypeA, wantErr: errUncounted},
}

// checkAnswer checks what ParsePacket reads in the answer pkt to q.
func checkAnswer(t *testing.T, q resolverQuery, pkt []byte) {
	t.Helper()
	got, err := ParsePacket(pkt)
	if q.wantErr != nil {
		if !errors.Is(err, q.wantErr) {
			t.Errorf("%s: got %+v, %v; want an error of kind %q", q.file, got, err, q.wantErr)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", q.file, err)
		return
	}
	if got.Question != q.question {
		t.Errorf("%s: question %q, want %q", q.file, got.Question, q.question)
	}
	b := brief(got.Addrs)
	slices.Sort(b)
	switch {
	case q.want != nil && !slices.Equal(b, q.want):
		t.Errorf("%s: addresses:\n got %q\nwant %q", q.file, b, q.want)
	case q.want == nil && len(b) != q.count:
		t.Errorf("%s: %d addresses, want %d: %q", q.file, len(b), q.count, b)
	}
}

// TestResolverAnswers reads the answers captured from dnsmasq.
func TestResolverAnswers(t *testing.T) {
	for _, q := range resolverQueries {
		pkt, err := readCorpusFile(filepath.Join(corpusDir, q.file))
		if err != nil {
			t.Fatalf("%v (PATHPIN_CAPTURE_DNS=1 go test -run TestCaptureResolverAnswers captures it, as root)", err)
		}
		checkAnswer(t, q, pkt)
	}
}

const corpusHeader = "go test fuzz v1\n"

// corpusFile is pkt as a file of a fuzz test's corpus.
func corpusFile(pkt []byte) []byte {
	return fmt.Appendf(nil, "%s[]byte(%s)\n", corpusHeader, strconv.Quote(string(pkt)))
}

// readCorpusFile reads the one []byte value of a fuzz corpus file.
func readCorpusFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, ok := strings.CutPrefix(string(b), corpusHeader)
	if !ok {
		return nil, fmt.Errorf("%s: not a fuzz corpus file", path)
	}
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[]byte(") || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("%s: not one []byte value", path)
	}
	v, err := strconv.Unquote(s[len("[]byte(") : len(s)-1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(v), nil
}
