package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// The raw types mirror the file; load.go validates them into Config.

type rawConfig struct {
	LAN      rawLAN      `yaml:"lan"`
	Uplinks  []rawUplink `yaml:"uplinks"`
	MarkMask *int64      `yaml:"mark-mask"`
	Health   rawHealth   `yaml:"health"`
	// IPTables and Firewall chose a firewall once; now only nftables is
	// left, and a file that still names another is told so.
	IPTables string       `yaml:"iptables"`
	Firewall string       `yaml:"firewall"`
	Protect  rawProtect   `yaml:"protect"`
	Policies []rawPolicy  `yaml:"policies"`
	Balance  rawBalance   `yaml:"balance"`
	DNS      rawDNS       `yaml:"dns"`
	Programs []rawProgram `yaml:"programs"`
	Web      rawWeb       `yaml:"web"`
	Notify   []rawNotify  `yaml:"notify"`
	Public   rawPublic    `yaml:"public-address"`
	// RunPPPScripts: nil means true.
	RunPPPScripts *bool `yaml:"run-ppp-scripts"`
}

type rawLAN struct {
	Interfaces []string `yaml:"interfaces"`
}

type rawUplink struct {
	Name      string     `yaml:"name"`
	Interface string     `yaml:"interface"`
	Gateway   string     `yaml:"gateway"`
	Weight    *int       `yaml:"weight"`
	Table     *int64     `yaml:"table"`
	Mark      *int64     `yaml:"mark"`
	MTU       int        `yaml:"mtu"`
	PPPoE     *rawPPPoE  `yaml:"pppoe"`
	DHCP      *rawDHCP   `yaml:"dhcp"`
	Health    *rawHealth `yaml:"health"`
	Failback  yaml.Node  `yaml:"failback"`
	Standby   string     `yaml:"standby"`
	Cap       *rawCap    `yaml:"cap"`
}

type rawCap struct {
	Bytes    string `yaml:"bytes"`
	Period   string `yaml:"period"`
	ResetDay *int   `yaml:"reset-day"`
}

type rawDHCP struct {
	Hostname string `yaml:"hostname"`
	ClientID string `yaml:"client-id"`
	// Release: nil means true.
	Release *bool `yaml:"release"`
}

type rawPPPoE struct {
	Interface       string `yaml:"interface"`
	VLAN            int    `yaml:"vlan"`
	Username        string `yaml:"username"`
	PasswordFile    string `yaml:"password-file"`
	Service         string `yaml:"service"`
	ACName          string `yaml:"ac"`
	IfName          string `yaml:"ifname"`
	MTU             int    `yaml:"mtu"`
	LCPEchoInterval *int   `yaml:"lcp-echo-interval"`
	LCPEchoFailure  *int   `yaml:"lcp-echo-failure"`
}

type rawHealth struct {
	Targets         []string       `yaml:"targets"`
	Method          string         `yaml:"method"`
	Port            int            `yaml:"port"`
	DNSName         string         `yaml:"dns-name"`
	HTTPPath        string         `yaml:"http-path"`
	HTTPStatus      int            `yaml:"http-status"`
	MinAnswers      *int           `yaml:"min-answers"`
	OnChange        []string       `yaml:"on-change"`
	OnChangeTimeout *time.Duration `yaml:"on-change-timeout"`
	Interval        *time.Duration `yaml:"interval"`
	FastInterval    *time.Duration `yaml:"fast-interval"`
	Timeout         *time.Duration `yaml:"timeout"`
	DownAfter       *int           `yaml:"down-after"`
	UpAfter         *int           `yaml:"up-after"`
	Metered         *bool          `yaml:"metered"`
	MeteredInterval *time.Duration `yaml:"metered-interval"`
}

type rawWeb struct {
	Listen []string `yaml:"listen"`
	Port   *int     `yaml:"port"`
}

type rawNotify struct {
	URL      string            `yaml:"url"`
	Timeout  *time.Duration    `yaml:"timeout"`
	Retries  *int              `yaml:"retries"`
	Debounce *time.Duration    `yaml:"debounce"`
	Headers  map[string]string `yaml:"headers"`
	Body     string            `yaml:"body"`
}

type rawPublic struct {
	STUN     []string       `yaml:"stun"`
	HTTP     []string       `yaml:"http"`
	Interval *time.Duration `yaml:"interval"`
}
