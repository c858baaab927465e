package notify

// QueueLen is how many messages a hook holds while it cannot send them;
// past that, the oldest is dropped.
const QueueLen = 64

// A queue is a bounded FIFO of messages that drops its oldest when full.
// It does not lock: its owner does.
type queue struct {
	buf  []Event
	head int // index of the oldest
	n    int
}

// newQueue returns an empty queue of size messages.
func newQueue(size int) *queue { return &queue{buf: make([]Event, size)} }

// push adds ev; when the queue is full it drops the oldest to make room,
// and says so.
func (q *queue) push(ev Event) (dropped bool) {
	if q.n == len(q.buf) {
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		dropped = true
	}
	q.buf[(q.head+q.n)%len(q.buf)] = ev
	q.n++
	return dropped
}

// pop takes the oldest message; false when there is none.
func (q *queue) pop() (Event, bool) {
	if q.n == 0 {
		return Event{}, false
	}
	ev := q.buf[q.head]
	q.buf[q.head] = Event{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return ev, true
}

// len is how many messages wait.
func (q *queue) len() int { return q.n }
