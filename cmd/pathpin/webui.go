package main

import "net/http"

// webUI is the status page's handler (nil: none yet).
func webUI() http.Handler { return nil }
