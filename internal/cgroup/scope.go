package cgroup

import (
	"context"
	"fmt"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// StartScope asks systemd for a transient scope named name in slice,
// holding process pid, and waits until it runs.
func StartScope(ctx context.Context, name, slice string, pid int) error {
	return startUnit(ctx, name, []sddbus.Property{
		sddbus.PropSlice(slice),
		sddbus.PropPids(uint32(pid)),
		{Name: "Description", Value: godbus.MakeVariant("pathpin exec: " + name)},
		// Gone once its processes are, failed or not.
		{Name: "CollectMode", Value: godbus.MakeVariant("inactive-or-failed")},
	})
}

// StartSlice asks systemd for the transient slice name (a program's),
// and waits until it is active; one that is active already is left as it
// is.
func StartSlice(ctx context.Context, name string) error {
	return startUnit(ctx, name, []sddbus.Property{
		{Name: "Description", Value: godbus.MakeVariant("pathpin program " + strings.TrimSuffix(strings.TrimPrefix(name, "pathpin-"), ".slice"))},
	})
}

// startUnit starts a transient unit.
func startUnit(ctx context.Context, name string, props []sddbus.Property) error {
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	slice := ""
	for _, p := range props {
		if p.Name == "Slice" {
			slice = " in " + p.Value.Value().(string)
		}
	}
	done := make(chan string, 1)
	if _, err := conn.StartTransientUnitContext(ctx, name, "fail", props, done); err != nil {
		return fmt.Errorf("starting %s%s: %w", name, slice, err)
	}
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("starting %s%s: systemd says %s (journalctl -u %s tells why)", name, slice, r, name)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StopUnit asks systemd to stop unit name (a program's slice once it is
// empty) and waits until it has.
func StopUnit(ctx context.Context, name string) error {
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan string, 1)
	if _, err := conn.StopUnitContext(ctx, name, "fail", done); err != nil {
		return fmt.Errorf("stopping %s: %w", name, err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connect talks to systemd on its private socket (root), or on the system
// bus when that fails.
func connect(ctx context.Context) (*sddbus.Conn, error) {
	conn, err := sddbus.NewSystemdConnectionContext(ctx)
	if err == nil {
		return conn, nil
	}
	if conn, err = sddbus.NewSystemConnectionContext(ctx); err != nil {
		return nil, fmt.Errorf("connecting to systemd: %w (this needs root on a host systemd runs)", err)
	}
	return conn, nil
}
