// The pod sandbox's process for the local real node (scripts/build-image.py builds it into the
// loadtest-pause image): it holds the pod's namespaces and does nothing else until SIGINT or
// SIGTERM. Static (CGO_ENABLED=0), no libraries, runs as nobody.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
