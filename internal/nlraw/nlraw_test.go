package nlraw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// message is one netlink message of type typ carrying payload.
func message(typ uint16, payload []byte) []byte {
	l := unix.SizeofNlMsghdr + len(payload)
	b := make([]byte, unix.SizeofNlMsghdr, Align(l))
	binary.NativeEndian.PutUint32(b[0:], uint32(l))
	binary.NativeEndian.PutUint16(b[4:], typ)
	b = append(b, payload...)
	return b[:Align(l)]
}

func TestMessages(t *testing.T) {
	two := append(message(0x100, []byte{1, 2, 3}), message(0x102, []byte{4, 5, 6, 7})...)
	for _, tc := range []struct {
		name  string
		b     []byte
		stop  int // messages after which fn says stop (0: never)
		want  string
		isErr bool
	}{
		{name: "two, the first padded", b: two, want: "[256:[1 2 3] 258:[4 5 6 7]]"},
		{name: "stopped after one", b: two, stop: 1, want: "[256:[1 2 3]]"},
		{name: "a header shorter than itself", b: []byte{4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, want: "[]", isErr: true},
		{name: "a length past the end", b: message(0x100, []byte{1})[:unix.SizeofNlMsghdr], want: "[]", isErr: true},
		{name: "nothing", b: nil, want: "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := Messages(tc.b, func(typ, _ uint16, _ uint32, payload []byte) bool {
				got = append(got, fmt.Sprintf("%d:%v", typ, payload))
				return tc.stop == 0 || len(got) < tc.stop
			})
			if fmt.Sprint(got) != tc.want || (err != nil) != tc.isErr {
				t.Fatalf("got %v, %v; want %s (error: %v)", got, err, tc.want, tc.isErr)
			}
		})
	}
}

func TestWaitEndsOnWakeAndTimeout(t *testing.T) {
	l, err := Listen(unix.NETLINK_NETFILTER, 0) // no groups: nothing arrives
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
		t.Skipf("skipping: no netlink here (an emulated CPU's user-mode kernel interface): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	if ready, err := l.Wait(20 * time.Millisecond); ready || err != nil {
		t.Fatalf("an empty socket's wait: %v %v", ready, err)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Fatalf("the wait ended after %s, before its timeout", took)
	}
	go func() { time.Sleep(10 * time.Millisecond); l.Wake() }()
	if ready, err := l.Wait(-1); ready || err != nil {
		t.Fatalf("a woken wait: %v %v", ready, err)
	}
	if n, err := l.Drain(nil); n != 0 || err != nil {
		t.Fatalf("draining an empty socket: %d %v", n, err)
	}
	l.Close()
	l.Wake() // after Close: nothing happens
}
