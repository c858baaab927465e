package daemon

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
	"github.com/pathpin/pathpin/internal/status"
	"golang.org/x/net/dns/dnsmessage"
)

// streamAddr is what the resolver answers for stream.example; cdnAddr
// what the router's own dnsmasq answers for cdn.example.
const (
	streamAddr = "203.0.113.20"
	cdnAddr    = "203.0.113.21"
	resolver   = netnstest.ServerAddr // a resolver beyond the uplinks, not the router's
	junkDNS    = "203.0.113.22"       // answers from port 53 with what no parser takes
	freshNet   = "198.51.100.0/24"
	cnameAddr  = "198.51.100.200" // edge.cdn.test, www.stream.example's CNAME
)

// fresh is the address h<i>.stream.example resolves to.
func fresh(i int) string { return fmt.Sprintf("198.51.100.%d", i) }

// requireQueue skips where the kernel runs no nft queue expression.
func requireQueue(t *testing.T) {
	ns := netnstest.New(t)
	out, err := ns.Command("nft", "add table ip q; add chain ip q c; add rule ip q c queue num 1 bypass").CombinedOutput()
	if err != nil {
		t.Skipf("skipping: this kernel has no nft queue (nft_queue), which domain policies need; the VM tests run this on a stock Debian kernel: %s", strings.TrimSpace(string(out)))
	}
}

// domainLab is the failover lab with a domain policy (stream.example and
// cdn.example by ispb), a dnsmasq resolver on the server, a DNS server that
// answers junk, and a dnsmasq on the router with pathpin's nftset= line.
func domainLab(t *testing.T) *failoverLab {
	netnstest.RequireRoot(t, "nft", "dnsmasq", "iptables", "conntrack")
	requireQueue(t)
	l := prepareLab(t, 1, 1, fastHealth)
	cfg := l.Config(1, 1, fastHealth) + `policies:
  - name: stream
    match: {domains: [stream.example, cdn.example]}
    via: [ispb]
dns: {min-ttl: 5s, max-ttl: 1h}
`
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{streamAddr, cdnAddr, junkDNS} {
		l.Server.Run("ip", "addr", "add", a+"/32", "dev", "lo")
		for i, isp := range l.ISPs {
			isp.Run("ip", "route", "add", a+"/32", "via", fmt.Sprintf("172.16.%d.2", i+1))
		}
	}
	// Every address of freshNet is the server's (a local route): each
	// lookup below gives one no answer gave before.
	l.Server.Run("ip", "route", "add", "local", freshNet, "dev", "lo")
	for i, isp := range l.ISPs {
		isp.Run("ip", "route", "add", freshNet, "via", fmt.Sprintf("172.16.%d.2", i+1))
	}
	netnstest.ServeSourceAddress(l.Server.Listen(":22"))
	args := []string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=" + t.TempDir() + "/s.pid",
		"--listen-address=" + resolver, "--bind-interfaces", "--local-ttl=3",
		"--host-record=stream.example," + streamAddr, "--host-record=cdn.example," + cdnAddr,
		// A CNAME to a name no policy names: its address is stream's.
		"--cname=www.stream.example,edge.cdn.test", "--host-record=edge.cdn.test," + cnameAddr}
	for i := 1; i <= 100; i++ {
		args = append(args, fmt.Sprintf("--host-record=h%d.stream.example,%s", i, fresh(i)))
	}
	l.Server.Start("dnsmasq", args...)
	junk := l.Server.ListenUDP(junkDNS + ":53")
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := junk.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = junk.WriteTo([]byte("\x12\x34\x81\x80not a dns message"), from)
		}
	}()
	l.start()
	l.waitState("ispa", "up", 10*time.Second)
	l.waitState("ispb", "up", 10*time.Second)
	return l
}

// ask asks server for name's A records from ns, over UDP: the answer's
// raw bytes and its addresses.
func ask(ns *netnstest.NS, server, name string) (raw []byte, addrs []string, err error) {
	return askPort(ns, server, 53, name)
}

// askPort is ask of a server on another port.
func askPort(ns *netnstest.NS, server string, port int, name string) (raw []byte, addrs []string, err error) {
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	_ = q.StartQuestions()
	_ = q.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, _ := q.Finish()
	ns.Do(func() {
		var c net.Conn
		if c, err = net.Dial("udp", net.JoinHostPort(server, strconv.Itoa(port))); err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err = c.Write(msg); err != nil {
			return
		}
		buf := make([]byte, 4096)
		var n int
		n, err = c.Read(buf)
		raw = buf[:n]
	})
	if err != nil {
		return nil, nil, err
	}
	var p dnsmessage.Parser
	if _, err := p.Start(raw); err == nil {
		_ = p.SkipAllQuestions()
		for {
			h, err := p.AnswerHeader()
			if err != nil {
				break
			}
			if h.Type == dnsmessage.TypeA {
				a, _ := p.AResource()
				addrs = append(addrs, net.IP(a.A[:]).String())
			} else {
				_ = p.SkipAnswer()
			}
		}
	}
	return raw, addrs, nil
}

func lookup(t *testing.T, ns *netnstest.NS, server, name string) ([]byte, []string) {
	t.Helper()
	raw, addrs, err := ask(ns, server, name)
	if err != nil {
		t.Fatalf("asking %s for %s: %v", server, name, err)
	}
	return raw, addrs
}

// inSet reports whether the stream policy's set holds addr now.
func inSet(l *failoverLab, addr string) bool {
	out, _ := l.Router.Command("nft", "list", "set", "ip", "pathpin", "domains_stream").CombinedOutput()
	return strings.Contains(string(out), addr)
}

// TestDomainPolicy: answers from a resolver that is not the router's put
// their addresses in the set before the client has them, so that 100 of
// 100 first connections after a fresh lookup take the policy's uplink;
// CNAMEs are followed; an address leaves after its TTL; junk from port 53
// reaches the client unchanged and adds nothing; the router's dnsmasq
// with pathpin's nftset= line fills the same set; and with pathpin killed
// DNS still answers (the queue's bypass).
func TestDomainPolicy(t *testing.T) {
	l := domainLab(t)
	// 100 names, each an address no answer gave before: the first
	// connection right after each lookup leaves by ispb.
	for i := 1; i <= 100; i++ {
		name := fmt.Sprintf("h%d.stream.example", i)
		_, addrs := lookup(t, l.Client, resolver, name)
		if len(addrs) != 1 || addrs[0] != fresh(i) {
			t.Fatalf("lookup of %s: %v", name, addrs)
		}
		c, err := l.Client.DialSource(fresh(i) + ":22")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if c.First != l.UplinkAddrs[1] {
			t.Fatalf("the first connection to %s right after its lookup left by %s, not ispb (%s)", fresh(i), c.First, l.UplinkAddrs[1])
		}
		c.Close()
	}
	// A CNAME chain: www.stream.example → edge.cdn.test → its address.
	if _, addrs := lookup(t, l.Client, resolver, "www.stream.example"); len(addrs) != 1 || addrs[0] != cnameAddr {
		t.Fatalf("lookup of www.stream.example: %v", addrs)
	}
	if c, err := l.Client.DialSource(cnameAddr + ":22"); err != nil || c.First != l.UplinkAddrs[1] {
		t.Errorf("the connection to www.stream.example's CNAME target left by %v (%v), not ispb", c, err)
	} else {
		c.Close()
	}
	_, _ = lookup(t, l.Client, resolver, "stream.example")
	st := l.status()
	if len(st.Domains) != 1 || st.Domains[0].Size == 0 || st.Domains[0].Size != len(st.Domains[0].Addrs) || len(st.Domains[0].Names) == 0 {
		t.Fatalf("status shows the domain sets as %+v", st.Domains)
	}
	if i := slices.IndexFunc(st.Domains[0].Addrs, func(a status.DomainAddr) bool { return a.Addr == cnameAddr }); i < 0 || !slices.Equal(st.Domains[0].Addrs[i].Names, []string{"www.stream.example"}) {
		t.Errorf("status does not say the CNAME target %s came from the answer for www.stream.example: %+v", cnameAddr, st.Domains[0].Addrs)
	}
	why, _ := l.Router.Command(l.bin, "why", "stream.example", "-c", l.cfg, "--state-dir", l.runDir).CombinedOutput()
	if !strings.Contains(string(why), streamAddr) || !strings.Contains(string(why), "nftset=/stream.example/cdn.example/4#ip#pathpin#domains_stream") {
		t.Errorf("pathpin why stream.example says:\n%s", why)
	}

	// The TTL (3 s, kept for min-ttl: 5 s) runs out: the addresses leave the set.
	l.waitFor("the addresses to leave the set after their TTL", func() bool { return !inSet(l, streamAddr) && !inSet(l, fresh(100)) })

	// Junk from port 53: passed on as sent, nothing added, pathpin alive.
	raw, _ := lookup(t, l.Client, junkDNS, "stream.example")
	if string(raw) != "\x12\x34\x81\x80not a dns message" {
		t.Errorf("the junk answer reached the client as %q", raw)
	}
	if inSet(l, junkDNS) || inSet(l, streamAddr) {
		t.Errorf("junk put something in the set")
	}
	if st := l.status(); st.DNS == nil || st.DNS.Malformed == 0 || st.Source != "daemon" {
		t.Errorf("after junk, status says %+v (source %s)", st.DNS, st.Source)
	}

	// pathpin killed: its table stays, nobody reads the queue, and
	// answers still pass (bypass).
	line := l.status().Domains[0].Dnsmasq
	_ = l.up.Signal(syscall.SIGKILL)
	_, _ = l.up.Wait()
	if _, addrs := lookup(t, l.Client, resolver, "stream.example"); len(addrs) != 1 {
		t.Errorf("with pathpin killed, the lookup answered %v", addrs)
	}

	// The router's own dnsmasq, forwarding to the resolver, with the line
	// status printed: it alone fills the set now.
	dir := t.TempDir()
	l.Router.Start("dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file="+dir+"/r.pid",
		"--listen-address=10.0.0.1", "--bind-interfaces", "--server="+resolver, "--"+line)
	l.waitFor("the router's dnsmasq to answer", func() bool {
		_, addrs, _ := ask(l.Client, "10.0.0.1", "cdn.example")
		return len(addrs) == 1
	})
	if !inSet(l, cdnAddr) {
		out, _ := l.Router.Command("nft", "list", "set", "ip", "pathpin", "domains_stream").CombinedOutput()
		t.Errorf("the router's dnsmasq with %q did not fill the set:\n%s", line, out)
	}
}
