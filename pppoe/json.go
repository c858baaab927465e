package pppoe

import "encoding/json"

// MarshalJSON writes the AC MAC as text ("02:00:00:00:00:01"), not base64.
func (s Session) MarshalJSON() ([]byte, error) {
	type plain Session
	return json.Marshal(struct {
		plain
		ACMAC string `json:"ac_mac"`
	}{plain(s), s.ACMAC.String()})
}

// MarshalJSON writes the AC MAC as text ("02:00:00:00:00:01"), not base64.
func (o Offer) MarshalJSON() ([]byte, error) {
	type plain Offer
	return json.Marshal(struct {
		plain
		ACMAC string `json:"ac_mac"`
	}{plain(o), o.ACMAC.String()})
}
