package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

var flagLine = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)

// TestManPageNamesEveryCommandAndFlag: pathpin(8) is written by hand;
// this fails when a command or a flag is missing from it.
func TestManPageNamesEveryCommandAndFlag(t *testing.T) {
	page, err := os.ReadFile("../../docs/pathpin.8.md")
	if err != nil {
		t.Fatal(err)
	}
	man := string(page)
	for _, c := range commands() {
		if !strings.Contains(man, "\n**"+c.name+"**\n") {
			t.Errorf("docs/pathpin.8.md does not describe the command %q under COMMANDS", c.name)
		}
		if c.name == "hook" {
			continue // pppd's arguments, no flags
		}
		var out bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &out}
		if err := run(context.Background(), env, []string{c.name, "-h"}); err != nil {
			t.Fatalf("%s -h: %v", c.name, err)
		}
		for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
			name := m[1]
			if !strings.Contains(man, "**-"+name+"**") && !strings.Contains(man, "**--"+name+"**") {
				t.Errorf("docs/pathpin.8.md does not name %s's flag -%s", c.name, name)
			}
		}
	}
}
