package main

import (
	"net/http"

	"github.com/pathpin/pathpin/internal/webui"
)

// webUI is the status page's handler.
func webUI() http.Handler { return webui.Handler() }
