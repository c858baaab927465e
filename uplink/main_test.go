package uplink

import (
	"flag"
	"os"
	"testing"

	"github.com/pathpin/pathpin/internal/netnstest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(netnstest.Main(m))
}
