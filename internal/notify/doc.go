// Package notify tells webhooks of uplink state changes: an HTTP POST for
// each change, in JSON or in a body shaped by a template (ntfy, Telegram,
// a chat bridge), without ever holding up the caller.
//
// # Debounce
//
// Each hook holds the changes of an uplink for its Debounce, a quiet
// period that starts again with every further change of that uplink (as
// Send is called: the events' At is not looked at). When the uplink has
// been quiet for Debounce, the changes held make one message: From is the
// state before the first change held, To and Reason are those of the last
// change, and At is the time of the last change. If the uplink is back
// where it started (From == To), nothing is sent. So a flap sends at most
// one message: up→down→up sends none, and up→down→up→down sends one,
// up→down. An uplink that never stays quiet for Debounce is not held for
// ever: at 5×Debounce after its first change held, its net change is sent
// (or nothing, if there is none) and holding starts afresh. Uplinks are
// held apart: a change of one never delays another's message. With a
// Debounce of 0 every change is sent as it comes, except one whose From
// equals its To.
//
// # Delivery
//
// Messages ready to send wait in a queue per hook of [QueueLen]; when it is
// full, the oldest is dropped and counted in [HookStats].Dropped. A hook
// sends one message at a time, in order. A POST that gets a 2xx answer is
// sent. A 5xx or 429 answer, no answer within Timeout, or a network error
// is tried again, up to Retries times, after 1s, 2s, 4s… (at most a minute;
// longer when a 429 or 5xx answer's Retry-After asks for it, within that
// minute). Any other answer (a 4xx other than 429, mostly) is not tried
// again. At most 4 KiB of an answer is read, and its start is logged
// with the failure.
//
// # Secrets
//
// Webhook URLs hold tokens, so no URL is logged or put in an error as it
// is: [Redact] shows it without its user info, query, fragment, the token
// of a Telegram bot path (/bot<token>/) and any long path segment that
// looks like a token. Header values are never logged.
package notify
