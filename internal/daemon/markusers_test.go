package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/pathpin/pathpin/internal/config"
	"github.com/pathpin/pathpin/uplink"
)

func TestWarnMarkUsersLogsClashes(t *testing.T) {
	var buf bytes.Buffer
	cfg := &config.Config{MarkMask: 0xff00}
	d := &Daemon{log: slog.New(slog.NewTextHandler(&buf, nil)), opt: Options{MarkUsers: func(_ context.Context, c *config.Config) ([]uplink.Finding, error) {
		if c != cfg {
			t.Error("the mark users were read for another configuration")
		}
		return []uplink.Finding{
			{Severity: uplink.Warning, Text: "WireGuard link wg0 (fwmark 0xca6c) sets mark bits 0xca6c, inside pathpin's mark-mask 0xff00"},
			{Severity: uplink.Info, Text: "Tailscale uses mark bits 0xff0000, outside"},
		}, nil
	}}}
	d.warnMarkUsers(context.Background(), cfg, 1)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "fwmark 0xca6c") || strings.Contains(buf.String(), "Tailscale") || !strings.Contains(buf.String(), "warnings=1 round=1") {
		t.Fatalf("log:\n%s", buf.String())
	}
	buf.Reset()
	d.opt.MarkUsers = func(context.Context, *config.Config) ([]uplink.Finding, error) { return nil, errors.New("no netlink") }
	d.warnMarkUsers(context.Background(), cfg, 1)
	if !strings.Contains(buf.String(), "no netlink") {
		t.Fatalf("a failed read is not logged:\n%s", buf.String())
	}
	(&Daemon{}).warnMarkUsers(context.Background(), cfg, 3) // none configured: nothing happens
	(*markScans)(nil).ask(cfg)
}
