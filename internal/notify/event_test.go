package notify

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestEventEnv(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 500, time.FixedZone("", 2*60*60))
	tests := []struct {
		name string
		ev   Event
		want []string
	}{
		{name: "a change", ev: Event{Uplink: "wan1", From: "up", To: "down", Reason: "no answer", At: at},
			want: []string{"PATHPIN_UPLINK=wan1", "PATHPIN_FROM=up", "PATHPIN_TO=down", "PATHPIN_REASON=no answer",
				"PATHPIN_TIME=2024-05-06T07:08:09+02:00", "PATHPIN_PUBLIC_ADDRESS="}},
		{name: "no time", ev: Event{Uplink: "wan2", From: "down", To: "up"},
			want: []string{"PATHPIN_UPLINK=wan2", "PATHPIN_FROM=down", "PATHPIN_TO=up", "PATHPIN_REASON=", "PATHPIN_TIME=", "PATHPIN_PUBLIC_ADDRESS="}},
		{name: "a public address", ev: Event{Uplink: "wan1", From: "up", To: "up", Reason: "public address changed", At: at, PublicAddress: "198.51.100.8"},
			want: []string{"PATHPIN_UPLINK=wan1", "PATHPIN_FROM=up", "PATHPIN_TO=up", "PATHPIN_REASON=public address changed",
				"PATHPIN_TIME=2024-05-06T07:08:09+02:00", "PATHPIN_PUBLIC_ADDRESS=198.51.100.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ev.Env(); !slices.Equal(got, tt.want) {
				t.Errorf("Env() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	in := Event{Uplink: "wan1", From: "up", To: "down", Reason: "r", At: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"uplink":"wan1","from":"up","to":"down","reason":"r","time":"2024-05-06T07:08:09Z"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var out Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("decoded %+v, want %+v", out, in)
	}
}
