package netnstest

import (
	"bufio"
	"net"
	"strings"
	"time"
)

// Listen opens a TCP listener inside the namespace.
func (ns *NS) Listen(addr string) net.Listener {
	ns.t.Helper()
	var l net.Listener
	var err error
	ns.Do(func() { l, err = net.Listen("tcp4", addr) })
	if err != nil {
		ns.t.Fatalf("listening on %s in %s: %v", addr, ns.Name, err)
	}
	ns.t.Cleanup(func() { l.Close() })
	return l
}

// Dial opens a TCP connection from inside the namespace.
func (ns *NS) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return ns.DialFrom("", addr, timeout)
}

// DialFrom opens a TCP connection from inside the namespace, bound to the
// local address when it is not "".
func (ns *NS) DialFrom(local, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	var err error
	d := net.Dialer{Timeout: timeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	ns.Do(func() { c, err = d.Dial("tcp4", addr) })
	return c, err
}

// ServeSourceAddress answers every connection on l with the source
// address it came from, one line per line the client sends (and one at
// once): the far end's view of which uplink a connection uses.
func ServeSourceAddress(l net.Listener) {
	serve(l, func(c net.Conn) {
		src, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		if _, err := c.Write([]byte(src + "\n")); err != nil {
			return
		}
		r := bufio.NewReader(c)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if _, err := c.Write([]byte(src + "\n")); err != nil {
				return
			}
		}
	})
}

// serve handles every connection on l in its own goroutine, closing it
// afterwards, until l is closed.
func serve(l net.Listener, handle func(net.Conn)) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// A SourceConn is a client connection to ServeSourceAddress.
type SourceConn struct {
	conn net.Conn
	r    *bufio.Reader
	// First is the source address the server saw at connect time.
	First string
}

// DialSource connects from ns to a ServeSourceAddress server.
func (ns *NS) DialSource(addr string) (*SourceConn, error) {
	return ns.DialSourceFrom("", addr)
}

// DialSourceFrom is DialSource from a bound local address.
func (ns *NS) DialSourceFrom(local, addr string) (*SourceConn, error) {
	return ns.dialSource(local, addr, 3*time.Second, 5*time.Second)
}

// DialSourceWithin is DialSource that gives up after timeout, connecting
// and reading the answer included.
func (ns *NS) DialSourceWithin(addr string, timeout time.Duration) (*SourceConn, error) {
	return ns.dialSource("", addr, timeout, timeout)
}

// DialSourceFromWithin is DialSourceFrom that gives up after timeout.
func (ns *NS) DialSourceFromWithin(local, addr string, timeout time.Duration) (*SourceConn, error) {
	return ns.dialSource(local, addr, timeout, timeout)
}

func (ns *NS) dialSource(local, addr string, connect, answer time.Duration) (*SourceConn, error) {
	c, err := ns.DialFrom(local, addr, connect)
	if err != nil {
		return nil, err
	}
	sc := &SourceConn{conn: c, r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(answer))
	if sc.First, err = sc.r.ReadString('\n'); err != nil {
		c.Close()
		return nil, err
	}
	sc.First = strings.TrimSpace(sc.First)
	return sc, nil
}

// Ask asks the server again which address it sees.
func (s *SourceConn) Ask() (string, error) {
	_ = s.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.conn.Write([]byte("?\n")); err != nil {
		return "", err
	}
	line, err := s.r.ReadString('\n')
	return strings.TrimSpace(line), err
}

// Close closes the connection.
func (s *SourceConn) Close() error { return s.conn.Close() }

// LocalPort is the connection's port on the client.
func (s *SourceConn) LocalPort() uint16 { return uint16(s.conn.LocalAddr().(*net.TCPAddr).Port) }

// ServeBulk sends size bytes to every connection on l, then closes it.
func ServeBulk(l net.Listener, size int64) {
	buf := make([]byte, 64<<10)
	serve(l, func(c net.Conn) {
		for left := size; left > 0; {
			n := int64(len(buf))
			if left < n {
				n = left
			}
			w, err := c.Write(buf[:n])
			if err != nil {
				return
			}
			left -= int64(w)
		}
	})
}
