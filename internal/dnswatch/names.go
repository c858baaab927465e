package dnswatch

// canonical is name as this package compares it: ASCII letters in lower
// case (DNS compares names without regard to ASCII case and to nothing
// else) and without a trailing dot.
func canonical(name string) string {
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return lowerFrom(name, i)
		}
	}
	return name
}

// lowerFrom lowers the ASCII letters of name from index i on, the first
// upper-case one.
func lowerFrom(name string, i int) string {
	b := []byte(name)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
