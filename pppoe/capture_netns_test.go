package pppoe

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/pathpin/pathpin/internal/netnstest"
)

var updateCorpus = flag.Bool("update-corpus", false, "write the captured frames to testdata/fuzz/FuzzPacket")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(netnstest.Main(m))
}

// TestRealPeersPackets captures a whole exchange between rp-pppoe's client
// (pppoe -d, then pppoe -k) and pppoe-server, and checks that every frame
// decodes and re-encodes to the same bytes. With -update-corpus the frames
// become the fuzz corpus.
func TestRealPeersPackets(t *testing.T) {
	netnstest.RequireRoot(t, "pppoe-server", "pppoe")
	client, isp := netnstest.New(t), netnstest.New(t)
	netnstest.Veth(t, client, "wan0", isp, "isp0")
	isp.StartPPPoEServer(netnstest.PPPoEServer{Interface: "isp0", ACName: "capture-ac", Service: "isp", RecordSessions: true})

	// A protocol-bound packet socket sees only frames it receives, so one
	// listens at each end: the client's side hears the AC, the AC's side
	// hears the client.
	listen := func(ns *netnstest.NS, ifname string) (conn *packet.Conn) {
		ns.Do(func() {
			var err error
			if conn, _, err = Listen(ifname); err != nil {
				t.Fatal(err)
			}
		})
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	conns := []*packet.Conn{listen(client, "wan0"), listen(isp, "isp0")}

	out := client.Run("pppoe", "-I", "wan0", "-d", "-S", "isp")
	sess := strings.TrimSpace(out)
	client.Run("pppoe", "-I", "wan0", "-k", "-e", sess)

	got := map[Code][]byte{}
	buf := make([]byte, 1600)
	for _, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			var f ethernet.Frame
			if err := f.UnmarshalBinary(buf[:n]); err != nil {
				t.Fatal(err)
			}
			var p Packet
			if err := p.UnmarshalBinary(f.Payload); err != nil {
				t.Fatalf("real %x frame does not decode: %v", f.Payload, err)
			}
			wire, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if l := len(wire); l > len(f.Payload) || string(wire) != string(f.Payload[:l]) {
				t.Fatalf("real %s re-encodes differently:\n got % x\nwant % x", p.Code, wire, f.Payload)
			}
			if _, seen := got[p.Code]; !seen {
				got[p.Code] = append([]byte(nil), f.Payload...)
			}
		}
	}
	for _, c := range []Code{CodePADI, CodePADO, CodePADR, CodePADS, CodePADT} {
		if got[c] == nil {
			t.Errorf("no %s captured", c)
		}
	}
	if !*updateCorpus {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzPacket")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for c, b := range got {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		name := filepath.Join(dir, "rp-pppoe-"+strings.ToLower(c.String()))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
