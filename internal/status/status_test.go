package status

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteTable(t *testing.T) {
	now := time.Unix(1000, 0)
	flows, rtt, loss := 12, 3.25, 0.1
	r := &Report{Source: "daemon", Uplinks: []Uplink{
		{Name: "talktalk", State: "up", Since: now.Add(-90 * time.Second), Interface: "eth0", Local: "192.168.1.2", Gateway: "192.168.1.254",
			Weight: 1, Flows: &flows, RxBytes: 1536, TxBytes: 5 << 20, RTTMillis: &rtt, Loss: &loss},
		{Name: "plusnet", State: "down", Reason: "3 probes missed", Interface: "ppp1", Weight: 1, Session: &Session{ID: 7, ACName: "bras"},
			LastChange: &Change{At: now.Add(-5 * time.Second), From: "up", To: "down", Reason: "3 of 3 targets silent for 1.1 s"},
			Usage:      &Usage{Since: now.Add(-time.Hour), In: 30e9, Out: 10e9, Cap: 50e9}},
		{Name: "lte", State: "down", Reason: "cold standby: idle", Interface: "ppp2", Standby: "cold", Metered: true},
		{Name: "cable", State: "up", Interface: "eth2", Weight: 1, Lease: &Lease{State: "bound", Address: "100.64.1.10/22", Server: "100.64.0.1",
			DNS: []string{"100.64.0.53"}, Obtained: now.Add(-time.Minute), T1: now.Add(29 * time.Minute), Expiry: now.Add(59 * time.Minute)}},
	}}
	var b bytes.Buffer
	if err := r.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"talktalk  up", "1m30s ago", "1.5KiB", "5MiB", "3.2ms", "10%", "7@bras", "plusnet: 3 probes missed",
		"plusnet: last change 5s ago", "up → down: 3 of 3 targets silent for 1.1 s", "30 GB in, 10 GB out (80% of the cap of 50 GB)",
		"lte: standby: cold", "lte: metered and carrying nothing",
		"cable: DHCP bound, lease 100.64.1.10/22 from 100.64.0.1, obtained 1m0s ago, renews in 29m0s, expires in 59m0s, DNS 100.64.0.53"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"probe_rtt_ms": 3.25`) || !strings.Contains(b.String(), `"pppoe_session": {`) ||
		!strings.Contains(b.String(), `"renew_at": "`) {
		t.Fatalf("JSON: %v\n%s", err, b.String())
	}
}
