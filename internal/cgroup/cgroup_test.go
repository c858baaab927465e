package cgroup

import (
	"os"
	"strings"
	"testing"
)

func TestRootIn(t *testing.T) {
	tests := []struct {
		name, mountinfo, want string
		fails                 bool
	}{
		{name: "unified", mountinfo: "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n", want: "/sys/fs/cgroup"},
		{name: "hybrid", mountinfo: "31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n32 30 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n", want: "/sys/fs/cgroup/unified"},
		{name: "escaped", mountinfo: "40 1 0:30 / /mnt/cg\\040two rw - cgroup2 none rw\n", want: "/mnt/cg two"},
		{name: "none", mountinfo: "31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rootIn(strings.NewReader(tt.mountinfo))
			if (err != nil) != tt.fails || got != tt.want {
				t.Errorf("rootIn = %q, %v; want %q (fails %t)", got, err, tt.want, tt.fails)
			}
		})
	}
}

func TestLayout(t *testing.T) {
	sd, own := Layout{Systemd: true}, Layout{}
	for _, tt := range []struct{ got, want string }{
		{sd.Program("backup"), "pathpin.slice/pathpin-backup.slice"},
		{sd.Exec("plusnet", "", false, 42), "pathpin.slice/pathpin-exec-plusnet-42.scope"},
		{sd.Exec("isp-b", "", true, 42), "pathpin.slice/pathpin-fallback-isp-b-42.scope"},
		{sd.Exec("", "backup", false, 42), "pathpin.slice/pathpin-backup.slice/pathpin-exec-42.scope"},
		{own.Program("backup"), "pathpin/backup"},
		{own.Exec("plusnet", "", false, 42), "pathpin/exec-plusnet-42"},
		{own.Exec("isp-b", "", true, 42), "pathpin/fallback-isp-b-42"},
		{own.Exec("", "backup", false, 42), "pathpin/backup/exec-42"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestParseExec: an exec group's name gives back its uplink and
// fallback; a program's group and other names are no exec.
func TestParseExec(t *testing.T) {
	for _, l := range []Layout{{Systemd: true}, {}} {
		for _, tt := range []struct {
			via      string
			fallback bool
		}{{"plusnet", false}, {"isp-b", true}, {"a_1", false}} {
			via, fallback, ok := l.ParseExec(l.Exec(tt.via, "", tt.fallback, 1234))
			if !ok || via != tt.via || fallback != tt.fallback {
				t.Errorf("systemd %t: %q %t read back as %q %t %t", l.Systemd, tt.via, tt.fallback, via, fallback, ok)
			}
		}
		for _, p := range []string{l.Exec("", "backup", false, 1), l.Program("backup"), "pathpin/exec-x", "pathpin.slice/pathpin-exec-x-y.scope", "other/exec-a-1"} {
			if _, _, ok := l.ParseExec(p); ok {
				t.Errorf("systemd %t: %q reads as an exec", l.Systemd, p)
			}
		}
	}
}

// TestStat: a group's level counts its path's parts, and its ID is its
// directory's inode.
func TestStat(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(root+"/a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := Stat(root, "/a/b/")
	if err != nil || g.Path != "a/b" || g.Level != 2 || g.ID == 0 {
		t.Errorf("Stat = %+v, %v", g, err)
	}
	if g, err := Stat(root, ""); err != nil || g.Level != 0 {
		t.Errorf("the root: %+v, %v", g, err)
	}
	if _, err := Stat(root, "gone"); err == nil {
		t.Error("a group that is not there has no error")
	}
}
