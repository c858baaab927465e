package pppoe

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x10}

func newAC(last byte, name string) *fakeAC {
	return &fakeAC{
		mac:       net.HardwareAddr{0x02, 0, 0, 0, 0xac, last},
		name:      name,
		services:  []string{"isp"},
		sessionID: 0x100 + uint16(last),
	}
}

func testClient(conn *fakeConn, cfg Config) *Client {
	if cfg.InitialTimeout == 0 {
		cfg.InitialTimeout = 20 * time.Millisecond
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 3
	}
	return NewClient(conn, "eth9", clientMAC, cfg, nil)
}

func TestSession(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		acs      []*fakeAC
		setup    func(acs []*fakeAC)
		wantSID  uint16
		wantAC   string
		wantMP   uint16
		wantSent []Code
		wantErr  string
	}{
		{
			name:     "first offer",
			acs:      []*fakeAC{newAC(1, "ac1")},
			wantSID:  0x101,
			wantAC:   "ac1",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR},
		},
		{
			name:     "lost PADO: second PADI answered",
			acs:      []*fakeAC{newAC(1, "ac1")},
			setup:    func(a []*fakeAC) { a[0].dropPADOs = 1 },
			wantSID:  0x101,
			wantAC:   "ac1",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADI, CodePADR},
		},
		{
			name:     "lost PADS: second PADR answered",
			acs:      []*fakeAC{newAC(1, "ac1")},
			setup:    func(a []*fakeAC) { a[0].dropPADSs = 1 },
			wantSID:  0x101,
			wantAC:   "ac1",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR, CodePADR},
		},
		{
			name:     "PADR exhaustion falls back to PADI",
			acs:      []*fakeAC{newAC(1, "ac1")},
			setup:    func(a []*fakeAC) { a[0].dropPADSs = 3 },
			wantSID:  0x101,
			wantAC:   "ac1",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR, CodePADR, CodePADR, CodePADI, CodePADR},
		},
		{
			name:    "wrong Host-Uniq is not an offer",
			acs:     []*fakeAC{newAC(1, "ac1")},
			setup:   func(a []*fakeAC) { a[0].wrongHostUniq = true },
			wantErr: "no access concentrator answered on eth9 after 3 PADIs",
		},
		{
			name:     "two ACs, first answer wins",
			acs:      []*fakeAC{newAC(1, "ac1"), newAC(2, "ac2")},
			wantSID:  0x101,
			wantAC:   "ac1",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR},
		},
		{
			name:     "two ACs, selected by name",
			cfg:      Config{ACName: "ac2"},
			acs:      []*fakeAC{newAC(1, "ac1"), newAC(2, "ac2")},
			wantSID:  0x102,
			wantAC:   "ac2",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR},
		},
		{
			name: "two ACs, selected by service",
			cfg:  Config{Service: "tv"},
			acs:  []*fakeAC{newAC(1, "ac1"), newAC(2, "ac2")},
			setup: func(a []*fakeAC) {
				a[1].services = []string{"isp", "tv"}
			},
			wantSID:  0x102,
			wantAC:   "ac2",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR},
		},
		{
			name:     "PADO with an error tag is skipped",
			acs:      []*fakeAC{newAC(1, "ac1"), newAC(2, "ac2")},
			setup:    func(a []*fakeAC) { a[0].padoError = "out of sessions" },
			wantSID:  0x102,
			wantAC:   "ac2",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR},
		},
		{
			name:    "PADS refusal carries the AC's text",
			acs:     []*fakeAC{newAC(1, "ac1")},
			setup:   func(a []*fakeAC) { a[0].padsError = "service not available" },
			wantErr: "access concentrator ac1 (02:00:00:00:ac:01) refused the session: Service-Name-Error: service not available",
		},
		{
			name:    "PADS with session id 0",
			acs:     []*fakeAC{newAC(1, "ac1")},
			setup:   func(a []*fakeAC) { a[0].padsZeroSID = true },
			wantErr: "refused the session: PADS with session id 0",
		},
		{
			name:     "RFC 4638 agreed",
			cfg:      Config{MTU: 1500},
			acs:      []*fakeAC{newAC(1, "ac1")},
			setup:    func(a []*fakeAC) { a[0].echoMaxPayload = true },
			wantSID:  0x101,
			wantAC:   "ac1",
			wantMP:   1500,
			wantSent: []Code{CodePADI, CodePADR},
		},
		{
			name:     "RFC 4638 not echoed: 1492",
			cfg:      Config{MTU: 1500},
			acs:      []*fakeAC{newAC(1, "ac1")},
			wantSID:  0x101,
			wantAC:   "ac1",
			wantMP:   1492,
			wantSent: []Code{CodePADI, CodePADR},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(tt.acs)
			}
			var peers []func(*fakeFrame, *Packet) []*fakeFrame
			for _, ac := range tt.acs {
				peers = append(peers, ac.handle)
			}
			conn := newFakeConn(peers...)
			s, err := testClient(conn, tt.cfg).Session(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Session error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Session: %v", err)
			}
			if s.ID != tt.wantSID || s.ACName != tt.wantAC || s.MaxPayload != tt.wantMP || s.Interface != "eth9" {
				t.Fatalf("Session = %+v, want id %#x from %s with max payload %d", s, tt.wantSID, tt.wantAC, tt.wantMP)
			}
			if diff := cmp.Diff(tt.wantSent, conn.sentCodes()); diff != "" {
				t.Fatalf("packets sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEachPADIHasOneServiceNameAndAFreshHostUniq(t *testing.T) {
	conn := newFakeConn()
	_, err := testClient(conn, Config{Service: "isp", Attempts: 3}).Session(context.Background())
	if !errors.Is(err, ErrNoOffer) {
		t.Fatalf("Session error = %v, want ErrNoOffer", err)
	}
	seen := map[string]bool{}
	for _, p := range conn.sent {
		if p.Code != CodePADI || p.SessionID != 0 {
			t.Fatalf("sent %v, want only PADIs with session id 0", p)
		}
		if n := len(p.TagsOf(TagServiceName)); n != 1 {
			t.Fatalf("PADI has %d Service-Name tags, want exactly 1", n)
		}
		hu, ok := p.Tag(TagHostUniq)
		if !ok || len(hu.Value) == 0 || seen[string(hu.Value)] {
			t.Fatalf("PADI Host-Uniq %x missing or reused", hu.Value)
		}
		seen[string(hu.Value)] = true
		if _, ok := p.Tag(TagPPPMaxPayload); ok {
			t.Fatal("PADI asks for PPP-Max-Payload although the MTU is 1492")
		}
	}
	if len(seen) != 3 {
		t.Fatalf("sent %d PADIs, want 3", len(seen))
	}
}

func TestPADREchoesCookieAndRelayID(t *testing.T) {
	ac := newAC(1, "ac1")
	ac.cookie = []byte("cookie-123")
	ac.relayID = []byte{1, 2, 3}
	conn := newFakeConn(ac.handle)
	if _, err := testClient(conn, Config{MTU: 1500}).Session(context.Background()); err != nil {
		t.Fatal(err)
	}
	padr := conn.lastSent(CodePADR)
	padi := conn.lastSent(CodePADI)
	for _, want := range []Tag{{Type: TagACCookie, Value: ac.cookie}, {Type: TagRelaySessionID, Value: ac.relayID}, MaxPayloadTag(1500)} {
		got, ok := padr.Tag(want.Type)
		if !ok || !bytes.Equal(got.Value, want.Value) {
			t.Errorf("PADR %s = %x, want %x", want.Type, got.Value, want.Value)
		}
	}
	hu1, _ := padi.Tag(TagHostUniq)
	hu2, _ := padr.Tag(TagHostUniq)
	if !bytes.Equal(hu1.Value, hu2.Value) {
		t.Errorf("PADR Host-Uniq %x differs from the PADI's %x", hu2.Value, hu1.Value)
	}
}

func TestPADSFromAnotherACIsIgnored(t *testing.T) {
	ac := newAC(1, "ac1")
	ac.dropPADSs = 100
	conn := newFakeConn(ac.handle)
	c := testClient(conn, Config{Attempts: 1})
	hostUniq := []byte{}
	// A PADS from a MAC we never asked must not become our session.
	conn.peers = append(conn.peers, func(f *fakeFrame, p *Packet) []*fakeFrame {
		if p.Code != CodePADR {
			return nil
		}
		hu, _ := p.Tag(TagHostUniq)
		hostUniq = hu.Value
		wire, _ := (&Packet{Code: CodePADS, SessionID: 9, Tags: []Tag{hu}}).MarshalBinary()
		return []*fakeFrame{{Destination: clientMAC, Source: net.HardwareAddr{2, 9, 9, 9, 9, 9}, EtherType: 0x8863, Payload: wire}}
	})
	if _, err := c.Session(context.Background()); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("Session error = %v, want ErrNoOffer", err)
	}
	if len(hostUniq) == 0 {
		t.Fatal("the stray AC never saw a PADR")
	}
}

func TestOffers(t *testing.T) {
	ac1, ac2 := newAC(1, "ac1"), newAC(2, "ac2")
	ac2.services = []string{"isp", "tv"}
	ac2.echoMaxPayload = true
	conn := newFakeConn(ac1.handle, ac2.handle)
	offers, err := testClient(conn, Config{MTU: 1500}).Offers(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, o := range offers {
		got = append(got, o.ACName+" "+o.ACMAC.String()+" "+strings.Join(o.Services, ",")+" "+string(rune('0'+o.MaxPayload/1000)))
	}
	want := []string{"ac1 02:00:00:00:ac:01 isp 0", "ac2 02:00:00:00:ac:02 isp,tv 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("offers (-want +got):\n%s", diff)
	}

	conn = newFakeConn(ac1.handle, ac2.handle)
	offers, err = testClient(conn, Config{}).Offers(context.Background(), true)
	if err != nil || len(offers) != 1 {
		t.Fatalf("Offers(first) = %v, %v; want exactly one offer", offers, err)
	}
}

func TestCancellationStopsDiscovery(t *testing.T) {
	conn := newFakeConn()
	c := testClient(conn, Config{InitialTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Session(ctx); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Session error = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Session did not return after cancellation")
	}
}

func TestDeadlineBoundsDiscovery(t *testing.T) {
	conn := newFakeConn()
	c := testClient(conn, Config{InitialTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Offers(ctx, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Offers error = %v, want context.DeadlineExceeded", err)
	}
}

func TestTerminate(t *testing.T) {
	conn := newFakeConn()
	c := testClient(conn, Config{})
	s := Session{ID: 0x42, ACMAC: net.HardwareAddr{2, 0, 0, 0, 0xac, 1}}
	if err := c.Terminate(s, "pathpin: shutting down"); err != nil {
		t.Fatal(err)
	}
	padt := conn.lastSent(CodePADT)
	if padt == nil || padt.SessionID != 0x42 {
		t.Fatalf("sent %v, want PADT for session 0x42", padt)
	}
	if text, _ := padt.ErrorText(); text != "Generic-Error: pathpin: shutting down" {
		t.Fatalf("PADT reason = %q", text)
	}
}
