package notify

import (
	"fmt"
	"testing"
)

func TestQueueDropsOldest(t *testing.T) {
	q := newQueue(3)
	drops := 0
	for i := range 5 {
		if q.push(ev(fmt.Sprint(i), "up", "down", "")) {
			drops++
		}
	}
	if drops != 2 || q.len() != 3 {
		t.Fatalf("after 5 pushes into 3: %d dropped, %d held; want 2 and 3", drops, q.len())
	}
	for _, want := range []string{"2", "3", "4"} {
		e, ok := q.pop()
		if !ok || e.Uplink != want {
			t.Fatalf("pop = %q %v, want %q", e.Uplink, ok, want)
		}
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop from an empty queue gave a message")
	}
	q.push(ev("5", "up", "down", ""))
	if e, _ := q.pop(); e.Uplink != "5" {
		t.Fatalf("after wrapping round, pop = %q, want 5", e.Uplink)
	}
}
