package main

import "testing"

func TestCheckPprofAddress(t *testing.T) {
	for addr, ok := range map[string]bool{
		"":               true, // off
		"0":              true, // off
		"127.0.0.1:6060": true,
		"127.0.0.1:0":    true,
		"[::1]:6060":     true,
		"localhost:6060": true,
		":6060":          false, // every interface
		"0.0.0.0:6060":   false,
		"[::]:6060":      false,
		"10.0.0.7:6060":  false,
		"example.com:80": false,
		"6060":           false,
	} {
		if err := checkPprofAddress(addr); (err == nil) != ok {
			t.Errorf("--pprof-bind-address=%q: %v, want accepted %v", addr, err, ok)
		}
	}
}
