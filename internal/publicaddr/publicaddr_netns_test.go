package publicaddr

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/internal/netnstest"
)

func TestMain(m *testing.M) { os.Exit(netnstest.Main(m)) }

// The NAT lab:
//
//	router wan0 192.168.1.2 ── cpe 192.168.1.254 isp core 198.51.100.254 ── core0 198.51.100.1 server
//
// The isp source-NATs what leaves by core to one public address. The
// router reaches the server only by mark 0x100's table, as pathpin's own
// rules route an uplink's traffic: its main table has no default route.
const (
	labServer = "198.51.100.1"
	labMark   = 0x100
)

type natLab struct {
	router, isp, server *netnstest.NS
	path                health.Path
}

func newNATLab(t *testing.T, public string) *natLab {
	t.Helper()
	netnstest.RequireRoot(t, "turnserver", "nft", "conntrack", "ss")
	l := &natLab{router: netnstest.New(t), isp: netnstest.New(t), server: netnstest.New(t),
		path: health.Path{Device: "wan0", Source: netip.MustParseAddr("192.168.1.2"), Mark: labMark}}
	netnstest.Veth(t, l.router, "wan0", l.isp, "cpe")
	netnstest.Veth(t, l.isp, "core", l.server, "core0")
	l.router.Run("ip", "addr", "add", "192.168.1.2/24", "dev", "wan0")
	l.router.Run("ip", "route", "add", "default", "via", "192.168.1.254", "dev", "wan0", "table", "100")
	l.router.Run("ip", "rule", "add", "fwmark", "0x100", "lookup", "100")
	l.isp.Run("ip", "addr", "add", "192.168.1.254/24", "dev", "cpe")
	l.isp.Run("ip", "addr", "add", "198.51.100.254/24", "dev", "core")
	l.isp.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.isp.Run("nft", "add", "table", "ip", "nat")
	l.isp.Run("nft", "add", "chain", "ip", "nat", "post", "{ type nat hook postrouting priority srcnat; }")
	l.server.Run("ip", "addr", "add", labServer+"/24", "dev", "core0")
	// The NAT's addresses are the isp's, on the server's subnet.
	for _, a := range []string{"198.51.100.7", "198.51.100.8"} {
		l.server.Run("ip", "route", "add", a+"/32", "via", "198.51.100.254")
	}
	l.setNAT(public)
	return l
}

// setNAT makes the isp's NAT use public, and forgets its mappings.
func (l *natLab) setNAT(public string) {
	l.isp.Run("nft", "flush", "chain", "ip", "nat", "post")
	l.isp.Run("nft", "add", "rule", "ip", "nat", "post", "oifname", "core", "snat", "to", public)
	l.isp.Run("conntrack", "-F")
}

// stun asks the lab's STUN server through path, from the router's
// namespace.
func (l *natLab) stun(path health.Path, timeout time.Duration) (netip.Addr, error) {
	var a netip.Addr
	var err error
	l.router.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		a, err = STUN(ctx, path, labServer+":3478")
	})
	return a, err
}

// TestPublicAddressThroughNAT asks the real coturn, through the uplink,
// for the router's public address: the NAT's, not the uplink's own, and
// the new one once the NAT's changes. The HTTP echo is asked too, from a
// helper process inside the router's namespace (the HTTP client dials
// from goroutines of its own, outside a namespace a test enters).
func TestPublicAddressThroughNAT(t *testing.T) {
	l := newNATLab(t, "198.51.100.7")
	l.server.StartSTUN(labServer)

	unmarked := l.path
	unmarked.Mark = 0
	// Unmarked, the request has no route but the device's link, where
	// nothing answers for the server.
	if a, err := l.stun(unmarked, time.Second); err == nil {
		t.Errorf("without the uplink's mark STUN still answered %s: the router has no route but by the mark", a)
	}
	a, err := l.stun(l.path, 3*time.Second)
	if err != nil {
		t.Fatalf("STUN through wan0: %v", err)
	}
	if a != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("STUN through wan0 gave %s; want the NAT's 198.51.100.7", a)
	}

	web := l.server.Listen(labServer + ":80")
	go func() {
		_ = http.Serve(web, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			_, _ = w.Write([]byte(host + "\n"))
		}))
	}()
	if got := l.helperHTTP(t, "http://"+labServer+"/"); got != "198.51.100.7" {
		t.Errorf("the HTTP echo through wan0 gave %q; want 198.51.100.7", got)
	}

	l.setNAT("198.51.100.8")
	if a, err := l.stun(l.path, 3*time.Second); err != nil || a != netip.MustParseAddr("198.51.100.8") {
		t.Errorf("after the NAT's change STUN gave %v, %v; want 198.51.100.8", a, err)
	}
	if got := l.helperHTTP(t, "http://"+labServer+"/"); got != "198.51.100.8" {
		t.Errorf("after the NAT's change the HTTP echo gave %q; want 198.51.100.8", got)
	}
}

const helperEnv = "PUBLICADDR_HTTP_HELPER_URL"

// helperHTTP runs TestHTTPHelper in the router's namespace and returns
// the address it found, or what it said.
func (l *natLab) helperHTTP(t *testing.T, url string) string {
	t.Helper()
	cmd := l.router.Command(os.Args[0], "-test.run=^TestHTTPHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+url)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if a, ok := strings.CutPrefix(line, "public address: "); ok {
			return a
		}
	}
	return strings.TrimSpace(string(out)) + " " + errString(err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestHTTPHelper is TestPublicAddressThroughNAT's HTTP query, run in the
// router's namespace; on its own it does nothing.
func TestHTTPHelper(t *testing.T) {
	url := os.Getenv(helperEnv)
	if url == "" {
		t.Skip("a helper of TestPublicAddressThroughNAT, run only by it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	a, err := HTTP(ctx, health.Path{Device: "wan0", Source: netip.MustParseAddr("192.168.1.2"), Mark: labMark}, url)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("public address: " + a.String() + "\n")
}
