package health

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestLoopConfirmsQuickly: after a missed round, rounds follow Fast
// apart until one passes; then Interval apart again. Results come in the
// order the rounds started; a late round (no answer Fast after it began)
// makes the uplink suspect before it has missed. Fast is long enough that
// a round which answers at once is never late even on an emulated,
// loaded CPU (5 ms was not: a goroutine can wait that long to run).
func TestLoopConfirmsQuickly(t *testing.T) {
	const interval, fast = time.Second, 100 * time.Millisecond
	var mu sync.Mutex
	var starts []time.Time
	var results []int
	suspects := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := Loop{Interval: interval, Fast: fast,
		Round: func(ctx context.Context, enough chan<- struct{}) Round {
			mu.Lock()
			n := len(starts)
			starts = append(starts, time.Now())
			mu.Unlock()
			switch {
			case n == 0:
				close(enough)
				return Round{OK: true, Answered: n}
			case n <= 3:
				// Late, then missed: rounds 1-3 miss.
				time.Sleep(3 * fast)
				return Round{OK: false, Answered: n}
			default:
				close(enough)
				return Round{OK: true, Answered: n}
			}
		},
		Emit: func(r Round) bool {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r.Answered)
			if len(results) == 9 {
				cancel()
			}
			return true
		},
		Suspect: func() { mu.Lock(); suspects++; mu.Unlock() },
	}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the loop did not run 9 rounds")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, r := range results {
		if r != i {
			t.Fatalf("results came in the order %v, not the rounds'", results)
		}
	}
	gap := func(i int) time.Duration { return starts[i].Sub(starts[i-1]) }
	if gap(1) < interval/2 {
		t.Errorf("round 1 began %s after round 0 (all well): want about %s", gap(1), interval)
	}
	// Round 1 is late after fast: round 2 starts before it ends.
	if gap(2) > interval/3 || gap(3) > interval/3 {
		t.Errorf("a suspect uplink's rounds began %s and %s apart: want about %s", gap(2), gap(3), fast)
	}
	if suspects == 0 {
		t.Error("the uplink never became suspect")
	}
	// Once a round passes, Interval again (rounds begun meanwhile end).
	calm := false
	for i := 5; i < len(starts); i++ {
		calm = calm || gap(i) >= interval/2
	}
	if !calm {
		t.Errorf("after the uplink answered again, rounds kept beginning quickly: %v", starts)
	}
}

// TestLoopBudget: while Idle, rounds start IdleInterval apart, not
// Interval apart; a kick starts one at once; once not idle, Interval
// again.
func TestLoopBudget(t *testing.T) {
	const interval, idleInterval = 20 * time.Millisecond, 400 * time.Millisecond
	var mu sync.Mutex
	var starts []time.Time
	var idle = true
	kick := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := Loop{Interval: interval, Fast: interval, IdleInterval: idleInterval, Kick: kick,
		Idle: func() bool { mu.Lock(); defer mu.Unlock(); return idle },
		Round: func(ctx context.Context, enough chan<- struct{}) Round {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			close(enough)
			return Round{OK: true}
		},
		Emit: func(Round) bool { return true },
	}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(starts) }
	time.Sleep(1000 * time.Millisecond)
	// Rounds at 0, 400 and 800 ms (a slow CPU may start one late).
	if n := count(); n < 2 || n > 4 {
		t.Errorf("%d rounds in 1 s on a budget of one per %s: want about 3", n, idleInterval)
	}
	before := count()
	kick <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for count() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if count() == before {
		t.Error("a kick started no round while idle")
	}
	mu.Lock()
	idle = false
	mu.Unlock()
	time.Sleep(time.Second)
	if n := count() - before; n < 10 {
		t.Errorf("%d rounds in 1 s once not idle: want about %d", n, time.Second/interval)
	}
	cancel()
	<-done
}
