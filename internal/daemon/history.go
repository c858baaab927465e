package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/uplink"
)

// historyStep is a history point's length (Options.HistoryStep in tests).
const historyStep = time.Minute

// historyOwner keeps each uplink's points and the last state changes,
// and what the metrics count since the start: failovers by cause. Its
// fields are guarded by d.mu; it lives across reloads.
type historyOwner struct {
	step   time.Duration
	rings  map[string]*history.Ring
	events history.Events
	// failovers counts each uplink's changes out of service by cause.
	failovers map[string]map[string]uint64
	// The cumulative counts at the last point, to take each step's part.
	lastNew map[string]uint64
	lastIn  map[string]uint64
	lastOut map[string]uint64
}

func newHistoryOwner(step time.Duration) *historyOwner {
	if step <= 0 {
		step = historyStep
	}
	return &historyOwner{step: step, rings: map[string]*history.Ring{}, failovers: map[string]map[string]uint64{},
		lastNew: map[string]uint64{}, lastIn: map[string]uint64{}, lastOut: map[string]uint64{}}
}

// noteChange records a change of uplink name's state: in its status and
// in the log of changes. Call with d.mu held.
func (d *Daemon) noteChange(name string, s *uplinkState, now time.Time, from, to, reason string) {
	s.noteChange(now, from, to, reason)
	if d.hist == nil {
		d.hist = newHistoryOwner(0)
	}
	d.hist.events.Add(history.Event{At: now, Uplink: name, From: from, To: to, Reason: reason})
}

// countFailover counts uplink name's leaving service, by the cause the
// apply gave. Call with d.mu held.
func (d *Daemon) countFailover(name string, r uplink.Reason) {
	if d.hist == nil {
		d.hist = newHistoryOwner(0)
	}
	h := d.hist
	if h.failovers[name] == nil {
		h.failovers[name] = map[string]uint64{}
	}
	h.failovers[name][causeOf(r)]++
}

// causeOf is the cause metrics count a failover by.
func causeOf(r uplink.Reason) string {
	switch r.Cause {
	case uplink.NoInterface:
		return "link"
	case uplink.NoCarrier:
		return "carrier"
	case uplink.NoAddress:
		return "address"
	case uplink.PPPDown:
		if r == coldIdle {
			return "standby"
		}
		return "ppp"
	case uplink.HealthDown:
		if strings.Contains(r.Detail, "carrier") {
			return "carrier"
		}
		return "probes"
	case uplink.Refused:
		return "refused"
	}
	return "other"
}

// runHistory adds a point per uplink every step until ctx ends.
func (d *Daemon) runHistory(ctx context.Context) {
	t := time.NewTicker(d.hist.step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.addPoints(now)
		}
	}
}

// addPoints takes one point of every uplink: the probes of the step, the
// state now, and the step's part of the counters.
func (d *Daemon) addPoints(now time.Time) {
	cfg := d.currentConfig()
	news, _ := d.flows.News(cfg.MarkMask)
	flows, _ := d.flows.Counts(cfg.MarkMask)
	use := d.usage.totals()
	d.mu.Lock()
	defer d.mu.Unlock()
	state := map[string]string{}
	for _, st := range d.statuses {
		state[st.Name] = "down"
		s := d.uplinks[st.Name]
		switch {
		case s == nil:
		case st.Up() || st.Reason.Cause == uplink.HealthDown:
			m, _, _ := s.machine.State()
			state[st.Name] = m.String()
		case st.Uplink.Cold:
			state[st.Name] = "standby"
		}
		if s != nil && s.capped != "" {
			state[st.Name] = "standby"
		}
	}
	h := d.hist
	for _, u := range cfg.Uplinks {
		s := d.uplinks[u.Name]
		if s == nil {
			continue
		}
		p := history.Point{T: now, State: state[u.Name], Flows: flows[u.Mark]}
		f := s.probesSince(now, h.step)
		p.RTTP50, p.RTTMax, p.Loss = ms(f.median), ms(f.worst), f.loss
		n := news[u.Mark]
		p.NewConns, h.lastNew[u.Name] = since(h.lastNew[u.Name], n), n
		in, out := use[u.Name][0], use[u.Name][1]
		p.BytesIn, h.lastIn[u.Name] = since(h.lastIn[u.Name], in), in
		p.BytesOut, h.lastOut[u.Name] = since(h.lastOut[u.Name], out), out
		ring := h.rings[u.Name]
		if ring == nil {
			ring = &history.Ring{}
			h.rings[u.Name] = ring
		}
		ring.Add(p)
	}
	// An uplink a reload took away takes its history with it.
	for name := range h.rings {
		if _, ok := cfg.Uplink(name); !ok {
			delete(h.rings, name)
		}
	}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// since is what a cumulative count gained; a count that went back (a new
// period, a new counter) counts from zero.
func since(last, now uint64) uint64 {
	if now < last {
		return now
	}
	return now - last
}

// writeHistory writes the history the status socket serves as JSON (a
// history.History), one uplink at a time: a day of points for eight
// uplinks is about 2 MB of JSON, never held whole.
func (d *Daemon) writeHistory(w io.Writer) error {
	cfg := d.currentConfig()
	d.mu.Lock()
	head, err := json.Marshal(struct {
		StepSeconds int             `json:"step_seconds"`
		Events      []history.Event `json:"events"`
	}{int(d.hist.step / time.Second), d.hist.events.List()})
	d.mu.Unlock()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	// {"step_seconds":…,"events":[…],"uplinks":[…]}
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"uplinks":[`)
	enc := json.NewEncoder(bw)
	for i, u := range cfg.Uplinks {
		if i > 0 {
			bw.WriteString(",")
		}
		uh := history.UplinkHistory{Name: u.Name, Points: []history.Point{}}
		d.mu.Lock()
		if r := d.hist.rings[u.Name]; r != nil {
			uh.Points = r.Points()
		}
		d.mu.Unlock()
		if err := enc.Encode(uh); err != nil {
			return err
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}
