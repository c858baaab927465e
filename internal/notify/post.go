package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxAnswer is how much of an answer's body is read.
const maxAnswer = 4 << 10

// maxRetryAfter bounds a Retry-After in seconds, before it is bounded by
// the longest back-off.
const maxRetryAfter = 24 * 60 * 60

// maxShown is how much of an answer's body an error shows.
const maxShown = 300

// userAgent is the User-Agent of each POST, unless the hook's headers say
// otherwise.
const userAgent = "pathpin"

// A postError is a POST that failed. Its text is scrubbed of the URL's
// secrets.
type postError struct {
	status int           // the answer's status; 0 for no answer
	retry  bool          // whether trying again may help
	after  time.Duration // the wait the answer's Retry-After asked for
	msg    string
	err    error // the cause, if any
}

func (e *postError) Error() string { return e.msg }
func (e *postError) Unwrap() error { return e.err }

// post makes one POST of body to the hook, bounded by its timeout.
func (s *sink) post(ctx context.Context, body []byte, contentType string) error {
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.hook.URL, bytes.NewReader(body))
	if err != nil {
		return s.fail(0, false, err, "making the request: %v: check the URL", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", userAgent)
	for k, v := range s.hook.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err // its text is without the URL
		}
		if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return s.fail(0, true, cause, "no answer within %s: check that the host is reachable, or give a longer timeout", s.timeout)
		}
		return s.fail(0, true, cause, "%v: check the URL's host and the network", cause)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	code := resp.StatusCode
	status := resp.Status
	if shown := snippet(answer); shown != "" {
		status += ": " + shown
	}
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code >= 500:
		e := s.fail(code, true, nil, "%s", status)
		e.after = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		return e
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return s.fail(code, false, nil, "%s: check the token or credentials in the URL and the headers", status)
	case code >= 400:
		return s.fail(code, false, nil, "%s: check the URL and its token", status)
	default:
		return s.fail(code, false, nil, "%s: not a 2xx answer: check the URL", status)
	}
}

// fail returns a postError for the hook saying what went wrong, scrubbed.
func (s *sink) fail(status int, retry bool, cause error, format string, a ...any) *postError {
	msg := "POST " + s.name + ": " + fmt.Sprintf(format, a...)
	return &postError{status: status, retry: retry, msg: s.red.scrub(msg), err: cause}
}

// snippet is the start of an answer's body on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > maxShown {
		s = s[:maxShown]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// retryAfter is the wait a Retry-After header asks for at now, in seconds
// or as a date; 0 for none.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return time.Duration(min(max(n, 0), maxRetryAfter)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
