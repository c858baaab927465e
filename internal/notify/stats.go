package notify

// HookStats are a hook's counters since its Notifier was made.
type HookStats struct {
	// Sent is how many messages got a 2xx answer.
	Sent uint64
	// Failed is how many messages were given up: an answer not worth
	// trying again, no more tries left, or a body template that failed.
	Failed uint64
	// Retried is how many times a POST was tried again.
	Retried uint64
	// Dropped is how many messages the full queue dropped unsent.
	Dropped uint64
}

// stats returns the sink's counters.
func (s *sink) stats() HookStats {
	return HookStats{Sent: s.sent.Load(), Failed: s.failed.Load(), Retried: s.retried.Load(), Dropped: s.dropped.Load()}
}
