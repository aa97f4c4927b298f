package testenv

import (
	"net"
	"sync"
)

// handedOut holds every port FreePort has returned in this process.
var handedOut sync.Map

// FreePort returns a loopback port that was free a moment ago and that
// FreePort has not returned before in this process: the kernel may hand a
// port it just freed out again, and a test (or benchmark) that takes several
// ports (xDS, admin, the Gateway) must get distinct ones, or two servers
// race for one.
func FreePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			return 0, err
		}
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port, nil
		}
	}
}
