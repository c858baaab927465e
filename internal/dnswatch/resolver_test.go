package dnswatch

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathpin/pathpin/internal/netnstest"
	"golang.org/x/net/dns/dnsmessage"
)

// manyRecords is how many A records the resolver gives many.example:
// more than ParsePacket examines.
const manyRecords = 70

// resolverConf is the configuration of the tests' dnsmasq: names with
// several A records, a CNAME chain, a name with many records, a name that
// does not exist (everything under example is answered by dnsmasq
// alone), and a name whose answers the queue test's handler
// panics on.
func resolverConf() string {
	lines := []string{
		"host-record=stream.example,192.0.2.10",
		"host-record=stream.example,192.0.2.11",
		"host-record=stream.example,192.0.2.12",
		"host-record=host.cdn.example,198.51.100.7",
		"cname=edge.chain.example,host.cdn.example,60",
		"cname=www.chain.example,edge.chain.example,90",
		"host-record=panic.example,192.0.2.99",
		"local=/example/", // answered here alone: NODATA, NXDOMAIN
	}
	for i := range manyRecords {
		lines = append(lines, fmt.Sprintf("host-record=many.example,10.99.%d.%d", i/200, 1+i%200))
	}
	return strings.Join(lines, "\n") + "\n"
}

// startResolver runs dnsmasq in ns on addr's port 53, answering from
// resolverConf alone (no upstream, no hosts file) with a TTL of 300 s,
// until the test ends; it returns once dnsmasq answers.
func startResolver(t *testing.T, ns *netnstest.NS, addr string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(conf, []byte(resolverConf()), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.Start("dnsmasq", "--keep-in-foreground", "--conf-file="+conf, "--no-resolv", "--no-hosts",
		"--listen-address="+addr, "--bind-interfaces", "--port=53", "--user=root", "--group=root",
		"--pid-file="+filepath.Join(dir, "pid"), "--log-facility="+filepath.Join(dir, "log"), "--local-ttl=300")
	server := net.JoinHostPort(addr, "53")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := ask(ns, "udp", server, 1, "stream.example", dnsmessage.TypeA, 200*time.Millisecond)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dnsmasq in %s does not answer: %v\n%s", ns.Name, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exchange is one question and its answer, as seen by the client.
type exchange struct {
	msg           []byte         // the response
	local, remote netip.AddrPort // the client's and the server's
}

// packet is the response as an IPv4 packet: one UDP datagram, or one
// TCP segment holding the whole length-prefixed message.
func (e exchange) packet(network string) []byte {
	if network == "tcp" {
		return tcpPacket(e.remote, e.local, withLength(e.msg))
	}
	return udpPacket(e.remote, e.local, e.msg)
}

// query is a DNS query with id for name's records of type typ, with an
// EDNS0 record offering 1232-byte UDP responses.
func query(id uint16, name string, typ dnsmessage.Type) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	n, err := dnsmessage.NewName(name + ".")
	if err != nil {
		return nil, err
	}
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	return b.Finish()
}

// ask sends a query from inside ns to server over network ("udp" or
// "tcp") and returns the response.
func ask(ns *netnstest.NS, network, server string, id uint16, name string, typ dnsmessage.Type, timeout time.Duration) (exchange, error) {
	q, err := query(id, name, typ)
	if err != nil {
		return exchange{}, err
	}
	var c net.Conn
	d := net.Dialer{Timeout: timeout}
	ns.Do(func() { c, err = d.Dial(network+"4", server) })
	if err != nil {
		return exchange{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	e := exchange{local: c.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort(),
		remote: c.RemoteAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()}
	if network == "tcp" {
		if _, err := c.Write(withLength(q)); err != nil {
			return exchange{}, err
		}
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return exchange{}, err
		}
		e.msg = make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, e.msg); err != nil {
			return exchange{}, err
		}
	} else {
		if _, err := c.Write(q); err != nil {
			return exchange{}, err
		}
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err != nil {
			return exchange{}, err
		}
		e.msg = buf[:n]
	}
	if len(e.msg) < 2 || binary.BigEndian.Uint16(e.msg) != id {
		return exchange{}, fmt.Errorf("a response of %d bytes not to query %#x", len(e.msg), id)
	}
	return e, nil
}
