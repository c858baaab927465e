package netnstest

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A Capture is tcpdump on one interface of a namespace, its packets
// written as text to a file in the test's directory.
type Capture struct {
	ns   *NS
	file string
}

// DHCPPacket is one DHCP message a capture saw.
type DHCPPacket struct {
	At                 time.Time
	Src, Dst           string // address.port
	SrcPort, DstPort   int
	Type               string // Discover, Offer, Request, ACK, NACK, Release, ...
	ClientIP, ServerID string
}

// StartCapture runs tcpdump on ifname in ns with the capture filter, until
// the test ends; it returns once tcpdump listens.
func (ns *NS) StartCapture(ifname, filter string) *Capture {
	ns.t.Helper()
	c := &Capture{ns: ns, file: filepath.Join(ns.t.TempDir(), "capture.txt")}
	out, err := os.Create(c.file)
	if err != nil {
		ns.t.Fatal(err)
	}
	errFile := c.file + ".err"
	stderr, err := os.Create(errFile)
	if err != nil {
		ns.t.Fatal(err)
	}
	cmd := ns.Command("tcpdump", "-i", ifname, "-n", "-l", "-tt", "-vv", "-U", filter)
	cmd.Stdout, cmd.Stderr = out, stderr
	if err := cmd.Start(); err != nil {
		ns.t.Fatalf("starting tcpdump: %v", err)
	}
	ns.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); out.Close(); stderr.Close() })
	for i := 0; i < 500; i++ {
		if b, _ := os.ReadFile(errFile); strings.Contains(string(b), "listening on") {
			return c
		}
		time.Sleep(10 * time.Millisecond)
	}
	ns.t.Fatalf("tcpdump did not start on %s in %s", ifname, ns.Name)
	return nil
}

var (
	packetLine = regexp.MustCompile(`^(\d+\.\d+) IP .*?\) (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): (?:\[[^\]]*\] )?BOOTP/DHCP`)
	packetHead = regexp.MustCompile(`^(\d+\.\d+) IP `)
	msgType    = regexp.MustCompile(`DHCP-Message.*?: (\w+)`)
	clientIP   = regexp.MustCompile(`Client-IP (\d+\.\d+\.\d+\.\d+)`)
	serverID   = regexp.MustCompile(`Server-ID.*?: (\d+\.\d+\.\d+\.\d+)`)
)

// DHCP returns the DHCP messages captured so far, in order.
func (c *Capture) DHCP() []DHCPPacket {
	f, err := os.Open(c.file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []DHCPPacket
	var cur *DHCPPacket
	s := bufio.NewScanner(f)
	var head string
	for s.Scan() {
		line := s.Text()
		if packetHead.MatchString(line) {
			head = line
			cur = nil
			continue
		}
		if head != "" && cur == nil {
			// tcpdump -v puts the addresses on the packet's second line.
			if m := packetLine.FindStringSubmatch(head + " " + strings.TrimSpace(line)); m != nil {
				sec, _ := strconv.ParseFloat(m[1], 64)
				sp, _ := strconv.Atoi(m[3])
				dp, _ := strconv.Atoi(m[5])
				out = append(out, DHCPPacket{At: time.Unix(0, int64(sec*1e9)), Src: m[2] + "." + m[3], Dst: m[4] + "." + m[5], SrcPort: sp, DstPort: dp})
				cur = &out[len(out)-1]
			}
			head = ""
			continue
		}
		if cur == nil {
			continue
		}
		if m := msgType.FindStringSubmatch(line); m != nil {
			cur.Type = m[1]
		}
		if m := clientIP.FindStringSubmatch(line); m != nil {
			cur.ClientIP = m[1]
		}
		if m := serverID.FindStringSubmatch(line); m != nil {
			cur.ServerID = m[1]
		}
	}
	return out
}

// Text is what the capture holds so far, as tcpdump wrote it.
func (c *Capture) Text() string {
	b, _ := os.ReadFile(c.file)
	return string(b)
}
