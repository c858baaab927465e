package setup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// An Asker puts questions to the person running init.
type Asker interface {
	// Ask shows question with its default and returns the answer, or the
	// default for an empty line.
	Ask(question, def string) (string, error)
	// Secret asks without echoing what is typed.
	Secret(question string) (string, error)
}

// Terminal asks on a terminal: in on its input, prompts on out.
type Terminal struct {
	in  *os.File
	out io.Writer
}

// NewTerminal returns an Asker on in, or nil when in is not a terminal.
func NewTerminal(in *os.File, out io.Writer) *Terminal {
	if !term.IsTerminal(int(in.Fd())) {
		return nil
	}
	return &Terminal{in: in, out: out}
}

// ErrAborted is an answer that ended the input (Ctrl-D).
var ErrAborted = errors.New("init: input ended; nothing was written")

// Ask implements Asker.
func (t *Terminal) Ask(question, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(t.out, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(t.out, "%s: ", question)
	}
	line, err := t.readLine()
	if err != nil {
		return "", err
	}
	if line = strings.TrimSpace(line); line == "" {
		return def, nil
	}
	return line, nil
}

// readLine reads one line a byte at a time, so nothing typed after it is
// taken from a later question (the password's no-echo read among them).
func (t *Terminal) readLine() (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := t.in.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return b.String(), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			if b.Len() > 0 && errors.Is(err, io.EOF) {
				return b.String(), nil
			}
			return "", ErrAborted
		}
	}
}

// Secret implements Asker.
func (t *Terminal) Secret(question string) (string, error) {
	fmt.Fprintf(t.out, "%s: ", question)
	b, err := term.ReadPassword(int(t.in.Fd()))
	fmt.Fprintln(t.out)
	if err != nil {
		return "", fmt.Errorf("init: reading the password: %w", err)
	}
	return string(b), nil
}

// yes reads a yes/no answer; def is taken on an empty line.
func yes(a Asker, question string, def bool) (bool, error) {
	d := "y/N"
	if def {
		d = "Y/n"
	}
	for {
		ans, err := a.Ask(question, d)
		if err != nil {
			return false, err
		}
		switch strings.ToLower(ans) {
		case "y/n":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
	}
}
