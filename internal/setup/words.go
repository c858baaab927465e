package setup

import "strings"

// A word is one token of a pppd options or secrets file, with its line.
type word struct {
	text   string
	line   int
	quoted bool
}

// words splits pppd's file syntax into words: whitespace separates them,
// '#' starts a comment that runs to the end of the line, double or single
// quotes group, and a backslash escapes the next character.
func words(text string) []word {
	var out []word
	var cur strings.Builder
	line, start := 1, 1
	inWord, quoted := false, false
	var quote rune
	flush := func() {
		if inWord {
			out = append(out, word{text: cur.String(), line: start, quoted: quoted})
		}
		cur.Reset()
		inWord, quoted = false, false
	}
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			switch {
			case r == quote:
				quote = 0
			case r == '\\' && i+1 < len(rs):
				i++
				cur.WriteRune(unescape(rs[i]))
			default:
				if r == '\n' {
					line++
				}
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			if !inWord {
				inWord, start = true, line
			}
			quote, quoted = r, true
		case r == '\\' && i+1 < len(rs):
			if !inWord {
				inWord, start = true, line
			}
			i++
			if rs[i] == '\n' {
				line++
				continue
			}
			cur.WriteRune(unescape(rs[i]))
		case r == '#' && !inWord:
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			i--
		case r == '\n' || r == ' ' || r == '\t' || r == '\r':
			flush()
			if r == '\n' {
				line++
			}
		default:
			if !inWord {
				inWord, start = true, line
			}
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

func unescape(r rune) rune {
	switch r {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	}
	return r
}

// lines groups words by the line they start on, in order.
func lines(ws []word) [][]word {
	var out [][]word
	for _, w := range ws {
		if len(out) > 0 && out[len(out)-1][0].line == w.line {
			out[len(out)-1] = append(out[len(out)-1], w)
			continue
		}
		out = append(out, []word{w})
	}
	return out
}
