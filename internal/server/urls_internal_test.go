package server

import (
	"net"
	"testing"
)

type fakeListener struct {
	net.Listener
	addr *net.TCPAddr
}

func (l fakeListener) Addr() net.Addr { return l.addr }

// The API names a URL by Host on a listener loopback connections reach,
// and by the path form on the address of any other.
func TestFunctionURLs(t *testing.T) {
	id := "abcdefghijklmnopqrstuvwxyz012345"
	for _, c := range []struct {
		ip   string
		want string
	}{
		{"127.0.0.1", "http://" + id + ".lambda-url.eu-west-1.localhost:9002/"},
		{"0.0.0.0", "http://" + id + ".lambda-url.eu-west-1.localhost:9002/"},
		{"::1", "http://" + id + ".lambda-url.eu-west-1.localhost:9002/"},
		{"10.1.2.3", "http://10.1.2.3:9002/_hearth/url/" + id + "/"},
		{"fd00::1", "http://[fd00::1]:9002/_hearth/url/" + id + "/"},
	} {
		f := functionURLs("eu-west-1", fakeListener{addr: &net.TCPAddr{IP: net.ParseIP(c.ip), Port: 9002}})
		if got := f(id); got != c.want {
			t.Errorf("FunctionUrl on %s = %q; want %q", c.ip, got, c.want)
		}
	}
	if functionURLs("eu-west-1", nil) != nil {
		t.Errorf("functionURLs without a listener is not nil")
	}
}
