package cgroup

import (
	"context"
	"fmt"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// StartScope asks systemd for a transient scope named name in slice,
// holding process pid, and waits until it runs. It talks to systemd on
// its private socket (root), or on the system bus when that fails.
func StartScope(ctx context.Context, name, slice string, pid int) error {
	conn, err := sddbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		if conn, err = sddbus.NewSystemConnectionContext(ctx); err != nil {
			return fmt.Errorf("connecting to systemd: %w (pathpin exec runs as root on a host systemd runs)", err)
		}
	}
	defer conn.Close()
	props := []sddbus.Property{
		sddbus.PropSlice(slice),
		sddbus.PropPids(uint32(pid)),
		{Name: "Description", Value: godbus.MakeVariant("pathpin exec: " + name)},
		// Kill only the scope's own processes when it is stopped.
		{Name: "CollectMode", Value: godbus.MakeVariant("inactive-or-failed")},
	}
	done := make(chan string, 1)
	if _, err := conn.StartTransientUnitContext(ctx, name, "fail", props, done); err != nil {
		return fmt.Errorf("starting scope %s in %s: %w", name, slice, err)
	}
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("starting scope %s in %s: systemd says %s (journalctl -u %s tells why)", name, slice, r, name)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
