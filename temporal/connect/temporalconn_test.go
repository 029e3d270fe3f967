package connect

import "testing"

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7233":                  true,
		"127.9.9.9:7233":                  true,
		"localhost:7233":                  true,
		"[::1]:7233":                      true,
		"10.0.0.5:7233":                   false,
		"temporal-frontend.temporal:7233": false,
		"my-ns.a1b2c.tmprl.cloud:7233":    false,
		"no-port":                         false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
