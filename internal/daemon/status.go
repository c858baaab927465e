package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pathpin/pathpin/hooks"
	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/internal/conntrack"
	"github.com/pathpin/pathpin/internal/health"
	"github.com/pathpin/pathpin/internal/history"
	"github.com/pathpin/pathpin/internal/nft"
	"github.com/pathpin/pathpin/internal/statedir"
	"github.com/pathpin/pathpin/internal/status"
	"github.com/pathpin/pathpin/uplink"
	"github.com/vishvananda/netlink"
)

// listenStatus opens the status socket. It is readable by root and the
// socket's group (set with StatusGroup), so `pathpin status` needs no root.
func (d *Daemon) listenStatus() (net.Listener, error) {
	path := d.opt.dirs().StatusSocket()
	l, err := hooks.ListenUnix(path, 0o600)
	if err != nil {
		return nil, err
	}
	if d.opt.StatusGID > 0 {
		if err := os.Chown(path, 0, d.opt.StatusGID); err != nil {
			l.Close()
			return nil, fmt.Errorf("giving %s to group %d: %w", path, d.opt.StatusGID, err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// StatusRequest is what a client of the status socket asks for, as one
// JSON line: "status" (the report, also for an empty line) or "history".
type StatusRequest struct {
	Want string `json:"want"`
}

// maxStatusRequest bounds a request line.
const maxStatusRequest = 1024

// serveStatus answers each connection's request with the report or the
// history, as JSON.
func (d *Daemon) serveStatus(l net.Listener) {
	hooks.ServeConns(l, nil, func(c net.Conn) {
		// One line; a client that closes its side without one (or with
		// an empty one) asks for the report.
		line, err := bufio.NewReader(io.LimitReader(c, maxStatusRequest)).ReadString('\n')
		var req StatusRequest
		if err != nil && !errors.Is(err, io.EOF) || strings.TrimSpace(line) != "" && json.Unmarshal([]byte(line), &req) != nil {
			_ = json.NewEncoder(c).Encode(map[string]string{"error": `send one JSON line: {"want":"status"} or {"want":"history"}`})
			return
		}
		switch req.Want {
		case "", "status":
			_ = json.NewEncoder(c).Encode(d.report())
		case "history":
			_ = d.writeHistory(c)
		default:
			_ = json.NewEncoder(c).Encode(map[string]string{"error": fmt.Sprintf("%q is not something the status socket serves; ask for status or history", req.Want)})
		}
	})
}

// report is the daemon's view, with live counters from the kernel.
func (d *Daemon) report() *status.Report {
	d.mu.Lock()
	cfg := d.cfg
	statuses := append([]uplink.Status(nil), d.statuses...)
	r := &status.Report{Source: "daemon"}
	for _, st := range statuses {
		u := baseUplink(&st)
		if h, ok := d.uplinks[st.Name]; ok {
			state, since, reason := h.machine.State()
			u.Since = since
			// In service, or held out by its health alone: the machine's
			// state and reason now (a failback hold's end, say), which
			// change between applies.
			if st.Up() || st.Reason.Cause == uplink.HealthDown {
				u.State = state.String()
				if state != health.Up {
					u.Reason = reason
				}
			}
			if f := h.probesSince(time.Now(), probeWindow); f.n > 0 {
				u.Loss, u.Probes = &f.loss, f.n
				if f.mean > 0 {
					rtt := ms(f.mean)
					u.RTTMillis = &rtt
				}
			}
			u.Metered, u.LastChange = h.metered, h.change
			if c, ok := cfg.Uplink(st.Name); ok && c.Cold {
				u.Standby = "cold (dialled or leased only while no weighted uplink is in service)"
			}
			if h.capped != "" {
				u.Standby = h.capped
			}
			for _, a := range h.excused {
				u.ExcusedTargets = append(u.ExcusedTargets, a.String())
			}
		}
		if s, since, ok := d.ppp.session(st.Name); ok {
			u.Session = &status.Session{Since: since, ID: s.ID, ACName: s.ACName, ACMAC: s.ACMAC.String()}
		}
		if h, ok := d.uplinks[st.Name]; ok {
			u.ProbeRoundsTotal = h.rounds
		}
		u.Failovers = maps.Clone(d.hist.failovers[st.Name])
		if p := d.public[st.Name]; p != nil && p.addr.IsValid() {
			u.PublicAddress, u.PublicSource = p.addr.String(), p.source
		}
		u.Lease = d.leaseStatus(st.Name)
		if c, ok := cfg.Uplink(st.Name); ok {
			u.Usage = d.usage.report(c)
		}
		r.Uplinks = append(r.Uplinks, u)
	}
	r.Applies = &status.Applies{Count: d.applies, Seconds: d.applySeconds}
	d.mu.Unlock()
	addCounters(r, cfg, d.flows)
	addDrops(r, cfg, d.domains)
	return r
}

// addDrops fills in what the protection dropped and what each policy does,
// from pathpin's table read on a socket of its own (the applier's is not
// shared).
func addDrops(r *status.Report, cfg *config.Config, domains *domainOwner) {
	c, err := nft.Open()
	if err != nil {
		return
	}
	defer c.Close()
	t, err := c.Read()
	if err != nil {
		return
	}
	for _, p := range uplink.PolicyUses(cfg, t) {
		sp := status.Policy{Name: p.Name, Matched: p.Matched, Verdict: p.Verdict}
		for _, s := range p.Now {
			sp.Uplinks = append(sp.Uplinks, fmt.Sprintf("%s %.0f%%", s.Uplink, 100*s.Share))
		}
		r.Policies = append(r.Policies, sp)
	}
	addDomains(r, cfg, c, domains, time.Now())
	drops := uplink.CountDrops(cfg, t)
	for i := range r.Uplinks {
		if d, ok := drops[r.Uplinks[i].Name]; ok {
			r.Uplinks[i].Dropped = &status.Dropped{Spoofed: d.Spoofed, Refused: d.Refused}
		}
	}
}

func baseUplink(st *uplink.Status) status.Uplink {
	u := status.Uplink{Name: st.Name, Interface: st.Device, Weight: st.Uplink.Weight, Table: st.Uplink.Table,
		Mark: fmt.Sprintf("%#x", st.Uplink.Mark), State: "up", RefusedRoutes: st.Refused}
	if !st.Up() {
		u.State, u.Reason = "down", st.Reason.String()
	}
	if st.Local.IsValid() {
		u.Local = st.Local.String()
	}
	if st.Gateway.IsValid() {
		u.Gateway = st.Gateway.String()
	}
	return u
}

// addCounters fills in interface byte counters and conntrack flows by
// mark: the counter's (kept from the kernel's events) when it has them,
// else one dump counted as it arrives (nothing is kept per connection).
// Flows need CAP_NET_ADMIN and are left out without it.
func addCounters(r *status.Report, cfg *config.Config, counter *conntrack.Counter) {
	var flows map[uint32]int
	ok := false
	if counter != nil {
		flows, ok = counter.Counts(cfg.MarkMask)
	}
	if !ok {
		flows, _ = conntrack.CountByMark(cfg.MarkMask)
	}
	var news map[uint32]uint64
	if counter != nil {
		news, _ = counter.News(cfg.MarkMask)
	}
	for i := range r.Uplinks {
		u := &r.Uplinks[i]
		if l, err := netlink.LinkByName(u.Interface); err == nil && l.Attrs().Statistics != nil {
			u.RxBytes, u.TxBytes = l.Attrs().Statistics.RxBytes, l.Attrs().Statistics.TxBytes
		}
		if flows != nil {
			if up, ok := cfg.Uplink(u.Name); ok {
				n := flows[up.Mark]
				u.Flows = &n
			}
		}
		if news != nil {
			if up, ok := cfg.Uplink(u.Name); ok {
				n := news[up.Mark]
				u.NewConns = &n
			}
		}
	}
}

// KernelReport is `pathpin status` without a daemon: what the kernel shows.
func KernelReport(ctx context.Context, cfg *config.Config, engine *uplink.Engine) (*status.Report, error) {
	p, err := engine.Statuses(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &status.Report{Source: "kernel"}
	for i := range p {
		r.Uplinks = append(r.Uplinks, baseUplink(&p[i]))
	}
	addCounters(r, cfg, nil)
	addDrops(r, cfg, nil)
	return r, nil
}

// QueryStatus asks a running daemon for its report.
func QueryStatus(ctx context.Context, stateDir string) (*status.Report, error) {
	var r status.Report
	if err := queryStatusSocket(ctx, stateDir, "status", &r, hooks.MaxMessage); err != nil {
		return nil, fmt.Errorf("reading the daemon's status: %w", err)
	}
	return &r, nil
}

// QueryHistory asks a running daemon for its history.
func QueryHistory(ctx context.Context, stateDir string) (*history.History, error) {
	var h history.History
	if err := queryStatusSocket(ctx, stateDir, "history", &h, maxHistory); err != nil {
		return nil, fmt.Errorf("reading the daemon's history: %w", err)
	}
	return &h, nil
}

// maxHistory bounds a history answer: a day of points for 64 uplinks.
const maxHistory = 64 << 20

// queryStatusSocket asks the daemon's status socket for want and decodes
// the answer into v.
func queryStatusSocket(ctx context.Context, stateDir, want string, v any, limit int64) error {
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "unix", statedir.Dirs{State: stateDir}.StatusSocket())
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := json.NewEncoder(c).Encode(StatusRequest{Want: want}); err != nil {
		return err
	}
	return json.NewDecoder(io.LimitReader(c, limit)).Decode(v)
}
