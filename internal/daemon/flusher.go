package daemon

import (
	"context"
	"time"
)

// flusher deletes conntrack entries off the applier's path: a delete of
// 50,000 entries takes the kernel tens of milliseconds, and neither the
// fast switch nor the next apply waits for it. Jobs run one at a time, in
// the order they were queued.
type flusher struct {
	jobs chan flushJob
}

// flushJob is one delete: run it, then log what it did and how long it
// took.
type flushJob struct {
	what string
	run  func() error
}

func newFlusher() *flusher { return &flusher{jobs: make(chan flushJob, 64)} }

// queue adds a job; when the queue is full (a flapping link), the job is
// run by the caller rather than lost.
func (f *flusher) queue(d *Daemon, j flushJob) {
	select {
	case f.jobs <- j:
	default:
		d.runFlush(j)
	}
}

// run works through the queue until ctx ends.
func (f *flusher) run(ctx context.Context, d *Daemon) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-f.jobs:
			d.runFlush(j)
		}
	}
}

func (d *Daemon) runFlush(j flushJob) {
	start := time.Now()
	if err := j.run(); err != nil {
		d.log.Warn("deleting connections", "what", j.what, "err", err)
		return
	}
	d.log.Info("connections deleted", "what", j.what, "took", time.Since(start).Round(time.Microsecond).String())
}
