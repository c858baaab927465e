package pppoe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable is a string from the network (an AC-Name, a Service-Name, an
// error tag's text) as pathpin shows it in logs, status and errors: a
// control character, or a byte that is not UTF-8, is written as \xNN and a
// backslash as \\, so that an access concentrator cannot forge log lines
// or drive a terminal.
func Printable(b []byte) string {
	var s strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&s, `\x%02x`, b[0])
		case r == '\\':
			s.WriteString(`\\`)
		case unicode.IsControl(r):
			for _, c := range b[:n] {
				fmt.Fprintf(&s, `\x%02x`, c)
			}
		default:
			s.Write(b[:n])
		}
		b = b[n:]
	}
	return s.String()
}
