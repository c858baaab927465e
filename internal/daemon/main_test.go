package daemon

import (
	"os"
	"testing"

	"github.com/pathpin/pathpin/internal/netnstest"
)

func TestMain(m *testing.M) { os.Exit(netnstest.Main(m)) }
