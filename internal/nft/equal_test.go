package nft

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestRuleSameComparesEveryField changes each field of a rule in turn:
// only the comment may differ between equal rules.
func TestRuleSameComparesEveryField(t *testing.T) {
	base := Rule{}
	rt := reflect.TypeOf(base)
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		changed := base
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int:
			v.SetInt(1)
		case reflect.Uint32, reflect.Uint64:
			v.SetUint(1)
		case reflect.Pointer:
			v.Set(reflect.New(f.Type.Elem()))
		case reflect.Slice:
			v.Set(reflect.MakeSlice(f.Type, 1, 1))
		case reflect.Struct:
			switch f.Type {
			case reflect.TypeOf(netip.Addr{}):
				v.Set(reflect.ValueOf(netip.MustParseAddr("192.0.2.1")))
			case reflect.TypeOf(netip.Prefix{}):
				v.Set(reflect.ValueOf(netip.MustParsePrefix("192.0.2.0/24")))
			default:
				t.Fatalf("field %s: teach this test its type %s", f.Name, f.Type)
			}
		default:
			t.Fatalf("field %s: teach this test its kind %s", f.Name, f.Type.Kind())
		}
		want := f.Name == "Comment" || f.Name == "Packets" || f.Name == "Bytes"
		if got := base.same(changed); got != want {
			t.Errorf("a rule differing in %s: same = %v, want %v", f.Name, got, want)
		}
	}
}

func TestTableEqual(t *testing.T) {
	a, b := sample(), sample()
	if !a.Equal(b) {
		t.Error("two samples differ")
	}
	b.Chains[2].Rules[0].Comment = "another comment"
	if !a.Equal(b) {
		t.Error("a comment made tables differ")
	}
	b.Chains[2].Rules[0].Balance[1].To = 3
	if a.Equal(b) {
		t.Error("a different balance compared equal")
	}
	var none *Table
	if none.Equal(&Table{}) || !none.Equal(nil) {
		t.Error("no table and an empty one are not told apart")
	}
}
