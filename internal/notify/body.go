package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"text/template"
	"time"
)

// Content types of a POST's body.
const (
	contentJSON = "application/json"
	contentText = "text/plain; charset=utf-8"
)

// bodyFuncs are the functions a body template may use.
var bodyFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"rfc3339": func(t time.Time) string { return t.Format(time.RFC3339) },
}

// sampleEvent is what a body template is tried on when it is parsed, so
// that a misspelt field is found then rather than at the first change.
var sampleEvent = Event{Uplink: "wan1", From: "up", To: "down", Reason: "no answer to 3 probes",
	At: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}

// parseBody parses a body template and tries it on a sample event.
func parseBody(text string) (*template.Template, error) {
	t, err := template.New("body").Funcs(bodyFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("the body template does not parse (%w): see Go's text/template; the fields are .Uplink .From .To .Reason .At", err)
	}
	if _, _, err := render(t, sampleEvent); err != nil {
		return nil, err
	}
	return t, nil
}

// render makes the body of the POST for ev and its content type: ev as
// JSON for a nil template, else the template's output.
func render(t *template.Template, ev Event) (body []byte, contentType string, err error) {
	if t == nil {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, "", fmt.Errorf("encoding the event as JSON: %w", err)
		}
		return b, contentJSON, nil
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, ev); err != nil {
		return nil, "", fmt.Errorf("the body template fails (%w): the fields are .Uplink .From .To .Reason .At", err)
	}
	return buf.Bytes(), sniff(buf.Bytes()), nil
}

// sniff is application/json for a JSON object or array, text/plain for
// anything else.
func sniff(b []byte) string {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		return contentJSON
	}
	return contentText
}
