package journal

import (
	"log/slog"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"
)

func TestFieldsAndMessage(t *testing.T) {
	type sent struct {
		msg  string
		pri  journal.Priority
		vars map[string]string
	}
	var got []sent
	h := New(slog.LevelInfo, func(m string, p journal.Priority, v map[string]string) error {
		got = append(got, sent{m, p, v})
		return nil
	})
	log := slog.New(h).With("uplink", "plusnet")
	log.Debug("not shown")
	log.Error("apply failed", "err", "network is down", "pppd-pid", 42)
	log.WithGroup("probe").Info("ok", "rtt", "2ms")
	want := []sent{
		{`"apply failed" uplink=plusnet err="network is down" pppd-pid=42`, journal.PriErr, map[string]string{"UPLINK": "plusnet", "ERR": "network is down", "PPPD_PID": "42"}},
		{`ok uplink=plusnet probe.rtt=2ms`, journal.PriInfo, map[string]string{"UPLINK": "plusnet", "PROBE_RTT": "2ms"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(sent{})); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	for in, out := range map[string]string{"uplink": "UPLINK", "_x": "X", "1a": "A", "message": "", "a b": "A_B"} {
		if fieldName(in) != out {
			t.Errorf("fieldName(%q) = %q, want %q", in, fieldName(in), out)
		}
	}
}
