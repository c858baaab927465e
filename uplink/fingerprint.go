package uplink

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A Fingerprinter reads, without an exec, a digest of the rules in the
// chains pathpin reads (its own and the built-in chains holding its
// jumps). Equal digests mean equal rules, counters aside.
type Fingerprinter interface {
	Fingerprint() (string, error)
}

// NFTFingerprint digests the iptables-nft chains with two nftables
// netlink dumps (every IPv4 chain, every IPv4 rule): the kernel's own
// expression bytes, in order, with the counter expressions left out, plus
// each rule's user data (comments). Rule handles are left out.
type NFTFingerprint struct{ conn *netlink.Conn }

// NewNFTFingerprint opens a netfilter netlink socket in the caller's
// network namespace.
func NewNFTFingerprint() (*NFTFingerprint, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("opening netfilter netlink: %w", err)
	}
	return &NFTFingerprint{conn: c}, nil
}

// fingerprintChains are the chains whose rules decide what parseChains
// returns.
var fingerprintChains = func() map[string]bool {
	m := map[string]bool{}
	for _, j := range ownedChains {
		m[j.Table+"/"+j.Target] = true
		if j.Chain != "" {
			m[j.Table+"/"+j.Chain] = true
		}
	}
	return m
}()

func (f *NFTFingerprint) dump(msg uint16) ([]netlink.Message, error) {
	return f.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msg), Flags: netlink.Request | netlink.Dump},
		Data:   []byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}, // nfgenmsg: family, version, resource id
	})
}

// Fingerprint returns the digest.
func (f *NFTFingerprint) Fingerprint() (string, error) {
	chains, err := f.dump(unix.NFT_MSG_GETCHAIN)
	if err != nil {
		return "", fmt.Errorf("listing nftables chains: %w", err)
	}
	digests := map[string]hash.Hash{}
	for _, m := range chains {
		table, chain, _, _, err := decodeNFT(m.Data, unix.NFTA_CHAIN_TABLE, unix.NFTA_CHAIN_NAME, 0, 0)
		if err != nil {
			return "", err
		}
		if key := table + "/" + chain; fingerprintChains[key] {
			digests[key] = sha256.New()
		}
	}
	rules, err := f.dump(unix.NFT_MSG_GETRULE)
	if err != nil {
		return "", fmt.Errorf("listing nftables rules: %w", err)
	}
	for _, m := range rules {
		table, chain, exprs, userdata, err := decodeNFT(m.Data, unix.NFTA_RULE_TABLE, unix.NFTA_RULE_CHAIN, unix.NFTA_RULE_EXPRESSIONS, unix.NFTA_RULE_USERDATA)
		if err != nil {
			return "", err
		}
		h, ok := digests[table+"/"+chain]
		if !ok {
			continue
		}
		h.Write([]byte("\x00rule"))
		if err := digestExprs(h, exprs); err != nil {
			return "", err
		}
		h.Write([]byte("\x00userdata"))
		h.Write(userdata)
	}
	keys := make([]string, 0, len(digests))
	for k := range digests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	all := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(all, "%s=%x\n", k, digests[k].Sum(nil))
	}
	return hex.EncodeToString(all.Sum(nil)), nil
}

// decodeNFT reads the two string attributes and two byte attributes of
// an nftables message (after its 4-octet nfgenmsg header).
func decodeNFT(b []byte, s1, s2, b1, b2 uint16) (string, string, []byte, []byte, error) {
	if len(b) < 4 {
		return "", "", nil, nil, fmt.Errorf("short nftables message")
	}
	ad, err := netlink.NewAttributeDecoder(b[4:])
	if err != nil {
		return "", "", nil, nil, err
	}
	var x1, x2 string
	var y1, y2 []byte
	for ad.Next() {
		switch ad.Type() {
		case s1:
			x1 = ad.String()
		case s2:
			x2 = ad.String()
		case b1:
			if b1 != 0 {
				y1 = ad.Bytes()
			}
		case b2:
			if b2 != 0 {
				y2 = ad.Bytes()
			}
		}
	}
	return x1, x2, y1, y2, ad.Err()
}

// digestExprs hashes a rule's expression list, leaving out counters (the
// only expressions whose data changes with traffic).
func digestExprs(h hash.Hash, list []byte) error {
	ad, err := netlink.NewAttributeDecoder(list)
	if err != nil {
		return err
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_LIST_ELEM {
			continue
		}
		ed, err := netlink.NewAttributeDecoder(ad.Bytes())
		if err != nil {
			return err
		}
		var name string
		var data []byte
		for ed.Next() {
			switch ed.Type() {
			case unix.NFTA_EXPR_NAME:
				name = ed.String()
			case unix.NFTA_EXPR_DATA:
				data = ed.Bytes()
			}
		}
		if err := ed.Err(); err != nil {
			return err
		}
		if name == "counter" {
			continue
		}
		fmt.Fprintf(h, "\x00%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	return ad.Err()
}

// chainCache remembers what iptables-save showed for a fingerprint, so a
// later read whose fingerprint matches needs no exec. Entries are only
// taken from reads during which the fingerprint did not change.
type chainCache struct {
	entries map[string]cachedChains
	order   []string
}

type cachedChains struct {
	chains []Chain
	jumps  []Jump
}

const chainCacheSize = 16

func (c *chainCache) get(fp string) (cachedChains, bool) {
	v, ok := c.entries[fp]
	return v, ok
}

func (c *chainCache) put(fp string, v cachedChains) {
	if c.entries == nil {
		c.entries = map[string]cachedChains{}
	}
	if _, ok := c.entries[fp]; !ok {
		c.order = append(c.order, fp)
		if len(c.order) > chainCacheSize {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.entries[fp] = v
}

// Close closes the netfilter socket.
func (f *NFTFingerprint) Close() error { return f.conn.Close() }
