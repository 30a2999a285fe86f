package main

import (
	"fmt"
	"net"
)

// checkPprofAddress refuses a --pprof-bind-address off the loopback
// interface: the profiles show the process's memory, arguments and code
// paths, and controller-runtime serves them with no authentication. ""
// and "0" (off) pass.
func checkPprofAddress(addr string) error {
	if addr == "" || addr == "0" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not a loopback address: pprof has no authentication, so it binds only to 127.0.0.1, [::1] or localhost "+
			"(reach it in a Pod with kubectl port-forward)", addr)
	}
	return nil
}
